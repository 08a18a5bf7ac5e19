"""Keep chunk arrays inline and uncompressed on PostgreSQL.

A chunk's three arrays (<= 256 elements of 8 bytes each) exceed the 2 KB TOAST
threshold, so PostgreSQL would compress them with pglz and move them out of line:
three times slower inserts for incompressible floats. PLAIN keeps them in the row;
a full chunk row is ~6.4 KB, below the 8 KB page (see experiments.chunks.CHUNK_POINTS).
"""

from django.db import migrations

COLUMNS = ("steps", "vals", "walls")


def set_storage(apps, schema_editor, storage: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    clauses = ", ".join(f"ALTER COLUMN {c} SET STORAGE {storage}" for c in COLUMNS)
    schema_editor.execute(f"ALTER TABLE experiments_pointchunk {clauses}")


class Migration(migrations.Migration):
    dependencies = [("experiments", "0001_initial")]

    operations = [
        migrations.RunPython(
            lambda apps, se: set_storage(apps, se, "PLAIN"),
            lambda apps, se: set_storage(apps, se, "EXTENDED"),
        ),
    ]
