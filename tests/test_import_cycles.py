"""No import cycle among the modules of dashboard/, experiments/, tuning/ and tracker/,
counting imports inside functions as well as at the top (``tests/import_cycles.py``, also
run by ``make lint``): events flow one way, nothing below imports what is above it."""

from pathlib import Path

from tests.import_cycles import PACKAGES, import_graph, imports_of, strongly_connected


def test_no_package_has_an_import_cycle():
    assert set(PACKAGES) == {"dashboard", "experiments", "tuning", "tracker", "teams", "alerts", "mlflow_api"}
    cycles = strongly_connected(import_graph())
    assert cycles == [], "import cycles:\n" + "\n".join(", ".join(group) for group in cycles)


def test_the_checker_sees_a_cycle_hidden_in_a_function(tmp_path: Path):
    (tmp_path / "services.py").write_text("from pkg import events\n")
    (tmp_path / "events.py").write_text("def emit():\n    from pkg.services import run_finish\n")
    modules = {"pkg.services": tmp_path / "services.py", "pkg.events": tmp_path / "events.py"}
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert graph == {"pkg.services": {"pkg.events"}, "pkg.events": {"pkg.services"}}
    assert strongly_connected(graph) == [["pkg.events", "pkg.services"]]
