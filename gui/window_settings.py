"""The main window's state kept between runs: the form's last request, the recent models, the
seed's Random box, and the window's geometry and dock layout."""

from __future__ import annotations

import base64

from PySide6.QtCore import QByteArray

from backend.core.errors import InputError
from backend.core.request import GenerationRequest


def restore_window(window) -> None:
    s = window.settings
    window.models.base.set_recent(s.recent_base_models)
    window.models.adapter.set_recent(s.recent_motion_adapters)
    if s.last_request:
        try:
            window.apply_request(GenerationRequest.from_dict(s.last_request))
        except InputError:
            pass  # settings from an older or broken file: keep the defaults
    window.parameters.random_seed.setChecked(s.random_seed)
    if s.window_geometry:
        window.restoreGeometry(QByteArray(base64.b64decode(s.window_geometry)))
        window.frame_fitter.fit()
    if s.window_state:
        window.restoreState(QByteArray(base64.b64decode(s.window_state)))


def save_window(window) -> None:
    s = window.settings
    try:
        # The seed shown, not the fresh one a ticked Random draws for a job.
        seed = window.parameters.seed.seed()
        s.last_request = window.request_from_form().replace(seed=seed).to_dict()
    except InputError:
        pass  # keep the last valid settings
    s.random_seed = window.parameters.random_seed.isChecked()
    s.window_geometry = base64.b64encode(bytes(window.saveGeometry())).decode("ascii")
    s.window_state = base64.b64encode(bytes(window.saveState())).decode("ascii")
    save_settings_file(window)


def save_settings_file(window) -> None:
    """Write the settings as they are now (a choice just made, such as the theme), without
    reading the window's state into them."""
    try:
        window.settings.save(window.settings_path)
    except OSError as exc:
        print(f"animatediff-studio: could not save settings: {exc}")
