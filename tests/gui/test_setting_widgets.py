"""Engine messages name command-line flags; the window shows the names of its own controls."""

from __future__ import annotations

from gui.setting_widgets import window_terms


def test_flags_read_as_the_window_names_its_controls(qapp):
    assert window_terms("turn it on (--memory auto) to retry") == "turn it on (Memory plan: Automatic) to retry"
    assert window_terms("or use --offload sequential.") == "or use CPU offload: Sequential."
    # A switch takes no value: the word after it stays.
    assert window_terms("use --vae-tiling or lower the size") == "use VAE tiling or lower the size"
    assert window_terms("use --context-length 16") == "use Context length 16"
    assert window_terms("an --unknown-flag stays") == "an --unknown-flag stays"
