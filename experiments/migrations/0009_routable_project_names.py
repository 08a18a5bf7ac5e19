"""Projects named before names were checked may hold a '/' (or be '.' / '..'): no page of
theirs could be routed (every run and sweep page answered 500). Rename them to the nearest
routable name ('a/b' -> 'a-b', with a numbered suffix if the owner already has that name);
their runs, sweeps and baselines follow, as they reference the project by id."""

from django.db import migrations


def _routable(name: str) -> str:
    fixed = name.replace("/", "-").strip()
    if fixed in ("", ".", ".."):
        fixed = f"project{fixed.replace('.', '-')}"
    return fixed[:100]


def rename_unroutable(apps, schema_editor):
    Project = apps.get_model("experiments", "Project")
    for project in Project.objects.filter(name__contains="/") | Project.objects.filter(name__in=[".", ".."]):
        base = _routable(project.name)
        taken = set(Project.objects.filter(owner_id=project.owner_id).values_list("name", flat=True))
        name, n = base, 2
        while name in taken:
            suffix = f"-{n}"
            name, n = base[: 100 - len(suffix)] + suffix, n + 1
        project.name = name
        project.save(update_fields=["name"])


class Migration(migrations.Migration):
    dependencies = [("experiments", "0008_exact_json_floats")]

    operations = [migrations.RunPython(rename_unroutable, migrations.RunPython.noop)]
