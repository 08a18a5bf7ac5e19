# Diagnostics' models moved to their own app (experiments.diagnostics, label
# "diagnostics"), which took them over in its 0001_initial with the same tables. State
# only: no table is touched.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('experiments', '0006_run_quarantined'),
        ('diagnostics', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name='FindingDismissal'),
                migrations.DeleteModel(name='Finding'),
                migrations.DeleteModel(name='AnalyzerSettings'),
                migrations.DeleteModel(name='RunDiagnosis'),
            ],
        ),
    ]
