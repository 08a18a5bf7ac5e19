"""What the integration tests read back: a run's stored points as {(key, step, rank): [values]}."""

from collections import defaultdict

from tests.helpers import stored_points


def points_by_step(run_id: int) -> dict[tuple[str, int, int], list[float]]:
    """Every stored point of the run, by metric key, step and rank (re-logged steps keep
    each value, in order)."""
    out: dict[tuple[str, int, int], list[float]] = defaultdict(list)
    for key, step, value, _wall, rank in stored_points(run_id):
        out[(key, step, rank)].append(value)
    return dict(out)


def press_stop(client, user, run_id: int) -> None:
    """What a person does: the admin's "Ask the selected runs to stop" action on the run."""
    user.is_staff = user.is_superuser = True
    user.save()
    client.force_login(user)
    response = client.post(
        "/admin/experiments/run/", {"action": "request_stop", "_selected_action": [str(run_id)]}
    )
    assert response.status_code == 302, response.content[:500]
