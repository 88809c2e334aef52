"""The Quality combo, the image-LoRA list and the embeddings list map to the request."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from backend.core.presets import ANIMATELCM_LORA, lightning_file
from backend.core.request import Embedding, ImageLora
from tests.gui.conftest import configure_tiny

TIMEOUT = 120_000


def pick(combo, data) -> None:
    index = combo.findData(data)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def test_quality_presets_set_the_recipe_and_keep_own_loras(window):
    p, m = window.parameters, window.models
    assert p.quality.objectName() == "qualityCombo" and p.quality.accessibleName()
    for name in ("imageLoraTable", "embeddingTable", "channelsLastCheck", "compileUnetCheck"):
        widget = window.findChild(QWidget, name)
        assert widget is not None and widget.accessibleName(), name
    m.image_loras.add("/my/style.safetensors", 0.6)
    pick(p.quality, "animatelcm")
    request = window.request_from_form()
    assert (request.preset, request.steps, request.guidance, request.scheduler) == (
        "animatelcm", 6, 1.5, "lcm_linear")
    assert request.model.motion_adapter == "wangfuyun/AnimateLCM"
    assert request.model.loras == (ImageLora(ANIMATELCM_LORA, 0.8), ImageLora("/my/style.safetensors", 0.6))
    pick(p.quality, "lightning")
    request = window.request_from_form()
    assert (request.preset, request.steps, request.guidance, request.scheduler) == (
        "lightning", 4, 1.0, "euler_trailing")
    assert request.model.motion_adapter == lightning_file(4)
    assert request.model.loras == (ImageLora("/my/style.safetensors", 0.6),)


def test_request_round_trips_through_the_form(window, demo_models):
    configure_tiny(window, demo_models)
    m = window.models
    m.image_loras.add("/a/b.safetensors", 0.5)
    m.embeddings.add("/e/EasyNegative.safetensors")
    m.embeddings.add("/e/other.safetensors", "<mine>")
    m.channels_last.setChecked(True)
    window.parameters.set_preset("animatelcm")
    request = window.request_from_form()
    assert request.model.embeddings == (Embedding("/e/EasyNegative.safetensors"),
                                        Embedding("/e/other.safetensors", "<mine>"))
    assert request.model.channels_last and request.preset == "animatelcm"
    m.image_loras.set_loras(())
    m.embeddings.set_embeddings(())
    window.apply_request(request)
    assert window.request_from_form().replace(seed=request.seed) == request


def test_generate_with_image_lora_and_embedding(window, qtbot, demo_models, lora_files):
    configure_tiny(window, demo_models)
    window.models.image_loras.add(str(lora_files.kohya_lora), 0.7)
    window.models.embeddings.add(str(lora_files.embedding_a1111))
    window.prompt.prompt.setPlainText("a <tiny-style> lighthouse")
    with qtbot.waitSignal(window.controller.job_finished, timeout=TIMEOUT) as finished:
        window.generate_button.click()
    result = finished.args[1]
    assert result.request.model.loras[0].weight == 0.7
    assert result.frames.shape == (8, 64, 64, 3)
