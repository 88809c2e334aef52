"""Settings: tolerant loading, and a newer version's file left exactly as it is."""

from __future__ import annotations

import json
import os
import stat

from backend.project.settings import LANGUAGES, SCHEMA_VERSION, Settings


def test_round_trip_and_bad_values_fall_back(tmp_path):
    path = tmp_path / "settings.json"
    Settings(random_seed=False, recent_projects=["/a.adsproj"]).save(path)
    loaded = Settings.load(path)
    assert loaded.random_seed is False and loaded.recent_projects == ["/a.adsproj"]
    path.write_text(json.dumps({"schema_version": 1, "random_seed": "yes", "recent_projects": 3}))
    assert Settings.load(path) == Settings()
    path.write_text("{broken")
    assert Settings.load(path) == Settings()


def test_a_newer_settings_file_is_left_as_it_is_with_a_message(tmp_path):
    path = tmp_path / "settings.json"
    newer = json.dumps({"schema_version": SCHEMA_VERSION + 1, "random_seed": False, "new_thing": [1]})
    path.write_text(newer)
    settings = Settings.load(path)
    assert "newer AnimateDiff Studio" in settings.read_only_reason and str(path) in settings.read_only_reason
    settings.random_seed = True
    assert settings.save(path) is False
    assert path.read_text() == newer


def test_settings_file_gets_the_users_umask(tmp_path):
    old = os.umask(0o022)
    try:
        Settings().save(tmp_path / "settings.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "settings.json").stat().st_mode) == 0o644
    assert "read_only_reason" not in json.loads((tmp_path / "settings.json").read_text())


def test_language_round_trips_and_an_unknown_one_falls_back_to_the_system(tmp_path):
    path = tmp_path / "settings.json"
    for language in LANGUAGES:
        Settings(language=language).save(path)
        assert Settings.load(path).language == language
    for bad in ("klingon", "", 7, None, ["zh_CN"]):
        path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "language": bad, "random_seed": False}))
        loaded = Settings.load(path)
        assert loaded.language == "system" and loaded.random_seed is False

def test_remote_settings_stay_private_to_the_user(tmp_path, monkeypatch):
    """The broker URL may hold a password: the file is 0600 whatever the umask, also when it
    existed with wider permissions, and a rewrite leaves no temporary file behind."""
    from backend.project.remote_settings import RemoteSettings

    monkeypatch.setenv("ANIMATEDIFF_STUDIO_CONFIG_DIR", str(tmp_path))
    path = RemoteSettings.path()
    path.write_text("{}")
    path.chmod(0o644)
    RemoteSettings(render_on="workers", broker_url="amqp://user:secret@host//").save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert RemoteSettings.load().broker_url == "amqp://user:secret@host//"
    assert [p.name for p in tmp_path.iterdir()] == ["remote.json"]
