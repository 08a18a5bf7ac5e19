from django.conf import settings


def test_tests_keep_their_state_apart_from_make_run():
    assert settings.VAR_DIR.parent.name == "test" and settings.VAR_DIR.name.startswith("session-")
