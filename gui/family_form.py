"""The form follows the base model's family (backend/families): choosing a Wan model turns off
what does not apply to it (each with the family's own reason as its tooltip), steps Frames
through the model's valid counts, offers its native sizes, takes its card's defaults and shows
the Start image field where the model can use one. Choosing an AnimateDiff model again puts the
form back as it was.

The family is found off the window's thread (a model folder may sit on a slow disk; a Hub id's
model_index.json is read from the cache only), and the form changes when the answer comes."""

from __future__ import annotations

import dataclasses
import threading

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QFormLayout, QWidget

from backend.core.errors import InputError
from backend.core.request import FRAMES_RANGE, SETTINGS, GenerationRequest
from backend.families.base import ModelConfigs, ModelFamily
from backend.families.registry import DEFAULT_FAMILY, detect_family, model_configs
from gui.demo_entries import demo_label, is_demo, wan_demo_shape
from gui.i18n import translate
from gui.panels import fill_panels, named
from gui.setting_widgets import show_value, translated, widget_value
from gui.start_image_field import StartImageField

BY_PATH = {declared.path: declared for declared in SETTINGS.values()}
# Wan's longest clip in the form: its cards' 81 frames, or more where a model's default is.
LONGEST_DEFAULT = 81


def detect(location: str) -> tuple[ModelFamily, ModelConfigs]:
    """The family of a base model and its configs (reads small files only)."""
    family = detect_family(location)
    return family, model_configs(location, family)


class FamilyForm(QObject):
    """Keeps the form in step with the base model's family."""

    familyChanged = Signal(str)  # the family's name, once the form shows it
    _detected = Signal(int, object, object)  # (generation, family, configs) from the thread

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.family: ModelFamily = DEFAULT_FAMILY
        self.configs = ModelConfigs("")
        self.start_image = StartImageField()
        self.sizes = named(QComboBox(), "nativeSizeCombo", self.tr("Native size"),
                           self.tr("The sizes this model was made for"))
        self.sizes.hide()
        self.essentials: QFormLayout | None = None
        self._saved: dict[str, object] | None = None  # the AnimateDiff form's values
        self._spin_config: dict[QAbstractSpinBox, tuple] = {}
        self._tooltips: dict[QWidget, str] = {}
        self._disabled: list[QWidget] = []
        self._keep_values = False
        self._pending_saved: dict[str, object] | None = None
        self._generation = 0
        self._timer = QTimer(self, singleShot=True, interval=250)
        self._timer.timeout.connect(self.detect_now)
        self._detected.connect(self._on_detected)
        p = window.parameters
        window.models.base.changed.connect(self._timer.start)
        window.controller.demo_model_ready.connect(lambda _folder: self.detect_now())
        p.frames.valueChanged.connect(self._snap_frames)
        p.width_spin.valueChanged.connect(self._size_changed)
        p.height_spin.valueChanged.connect(self._size_changed)
        p.seconds.editingFinished.connect(lambda: self._snap_frames(p.frames.value()))
        p.mode.currentIndexChanged.connect(self._show_start_image)
        self.sizes.activated.connect(self._size_picked)

    def attach(self, essentials: QFormLayout) -> None:
        """The form layout holding the Start image and motion adapter rows."""
        self.essentials = essentials
        self._show_start_image()
        self._offer_schedulers()

    def _offer_schedulers(self) -> None:
        family = self.family
        self._offer(self.window.parameters.scheduler, lambda name: name in family.schedulers,
                    self.tr("{0} models use other schedulers: {1}").format(
                        family.label, ", ".join(family.schedulers)))

    # -- finding the family ------------------------------------------------------------------

    def location(self) -> str:
        models = self.window.models
        return models.spec().base_model if models.base.text() else ""

    def detect_now(self) -> None:
        """Ask, off the window's thread, which family the base model shown is; a Wan demo model
        not built yet is built first (the worker says when it is ready)."""
        self._timer.stop()
        self._generation += 1
        generation, text = self._generation, self.window.models.base.text()
        shape = wan_demo_shape(text)
        root = self.window.demo_model_root()
        if shape is not None:
            from backend.models.wan_demo_model import is_wan_demo_complete

            if not is_wan_demo_complete(root, shape):
                self.window.set_status(self.tr("Building the tiny demo models (once, a few seconds)…"))
                self.window.controller.build_demo_model(root)
                return
        location = self.location()

        def run() -> None:
            try:
                family, configs = detect(location)
            except Exception:  # noqa: BLE001 - unreadable: the loader will say what is wrong
                family, configs = DEFAULT_FAMILY, ModelConfigs("")
            try:
                self._detected.emit(generation, family, configs)
            except RuntimeError:
                pass  # the window closed meanwhile

        threading.Thread(target=run, name="family-detect", daemon=True).start()

    def _on_detected(self, generation: int, family: ModelFamily, configs: ModelConfigs) -> None:
        if generation != self._generation:
            return  # the field changed again since
        keep, self._keep_values = self._keep_values, False
        line = self.window.models.base.combo.lineEdit()
        if not line.hasFocus():
            line.setCursorPosition(0)  # a long entry shows its start, not its end
        if family is self.family and configs == self.configs:
            self._pending_saved = None
            return
        self.apply(family, configs, keep_values=keep)

    # -- changing the form -----------------------------------------------------------------------

    def apply(self, family: ModelFamily, configs: ModelConfigs, keep_values: bool = False) -> None:
        """Show the form for `family`'s model with these configs. With `keep_values` (a take's
        or a file's settings were just filled in) only what applies changes, not the values."""
        p = self.window.parameters
        if self.family is DEFAULT_FAMILY and family is not DEFAULT_FAMILY:
            self._saved = self._pending_saved if keep_values and self._pending_saved else self.snapshot()
        self._pending_saved = None
        self.restore_config()
        self.family, self.configs = family, configs
        if family is DEFAULT_FAMILY:
            if self._saved is not None and not keep_values:
                self.restore(self._saved)
            self._saved = None
            models = self.window.models
            if is_demo(models.base.text()) and not is_demo(models.adapter.text()):
                models.adapter.set_text(demo_label())
        else:
            self._configure(family, configs)
            if not keep_values:
                widgets = self._values_widgets()  # the model card's size, frames, fps, ...
                for name, value in family.request_defaults(configs).items():
                    show_value(widgets[name], value)
                if p.mode.currentData() not in family.modes(configs):
                    p.mode.setCurrentIndex(p.mode.findData("text2video"))
        self._offer_schedulers()
        self._fill_sizes()
        self._show_start_image()
        self.familyChanged.emit(family.name)

    def _configure(self, family: ModelFamily, configs: ModelConfigs) -> None:
        p, m = self.window.parameters, self.window.models
        for path, why in family.unsupported.items():
            reason = self.tr("{0} does not apply to {1} models: {2}").format(
                translated(BY_PATH[path].label), family.label, translate("Family", why))
            for widget in self._widgets_for(path):
                self._disable(widget, reason)
        if self.essentials is not None and not family.applies("model.motion_adapter"):
            self.essentials.setRowVisible(m.adapter, False)
        limits = family.constraints(configs)
        longest = max(LONGEST_DEFAULT, family.defaults(configs).frames)
        lowest = next(n for n in range(limits.frame_offset, FRAMES_RANGE[1])
                      if n > 1 and limits.valid_frames(n))
        self._set_spin(p.frames, lowest, min(longest, FRAMES_RANGE[1]), limits.frame_step)
        for spin in (p.width_spin, p.height_spin):
            low = max(spin.minimum(), limits.size_multiple)
            self._set_spin(spin, low + (-low) % limits.size_multiple, spin.maximum(),
                           limits.size_multiple)
        modes = family.modes(configs)
        self._offer(p.mode, lambda mode: mode in modes or (mode == "text2video" and modes == ("image2video",)),
                    self.tr("This model cannot run this mode."))
        p.aspect.hide()
        self.sizes.show()

    def _widgets_for(self, path: str) -> list[QWidget]:
        p, m, w = self.window.parameters, self.window.models, self.window
        guidance = [w.sections["guidance"].body, w.sections["guidance"].button] if hasattr(w, "sections") else []
        return {
            "model.motion_adapter": [m.adapter],
            "model.motion_loras": [m.loras],
            "free_init_iters": [p.free_init, p.free_init_method, p.free_init_fast],
            "context_length": [p.free_noise, p.context_length, p.context_stride],
            "prompt_travel": [w.prompt.travel_box],
            "clip_skip": [p.clip_skip],
            "freeu": [p.freeu, *p.freeu_values],
            "model.embeddings": [m.embeddings],
            "model.compile_unet": [m.compile_unet],
            "model.channels_last": [m.channels_last],
            "preset": [p.quality],
            "controls": guidance, "sparse_control": [], "keyframes": [], "ip_adapter": [],
        }.get(path, [])

    def _disable(self, widget: QWidget, reason: str) -> None:
        if widget in self._tooltips:
            return
        for part in (widget, *widget.findChildren(QWidget)):
            self._tooltips.setdefault(part, part.toolTip())
            part.setToolTip(reason)
        if widget.isEnabled():
            widget.setEnabled(False)
            self._disabled.append(widget)

    def _set_spin(self, spin, low: int, high: int, step: int) -> None:
        self._spin_config.setdefault(spin, (spin.minimum(), spin.maximum(), spin.singleStep(),
                                            spin.keyboardTracking()))
        spin.setKeyboardTracking(False)  # snapped to a valid value once typed, not per key
        spin.setRange(low, high)
        spin.setSingleStep(step)

    def _offer(self, combo: QComboBox, allowed, reason: str) -> None:
        """Grey out the combo's choices `allowed` refuses, each with `reason` as its tooltip."""
        model = combo.model()
        for row in range(combo.count()):
            item = model.item(row)
            fits = allowed(combo.itemData(row))
            item.setEnabled(fits)
            item.setToolTip("" if fits else reason)
        if not allowed(combo.currentData()):
            first = next(row for row in range(combo.count()) if allowed(combo.itemData(row)))
            combo.setCurrentIndex(first)

    def restore_config(self) -> None:
        """Undo what the last family's form changed, values aside."""
        p, m = self.window.parameters, self.window.models
        for widget in self._disabled:
            widget.setEnabled(True)
        for widget, tip in self._tooltips.items():
            widget.setToolTip(tip)
        self._disabled, self._tooltips = [], {}
        for spin, (low, high, step, tracking) in self._spin_config.items():
            spin.setRange(low, high)
            spin.setSingleStep(step)
            spin.setKeyboardTracking(tracking)
        self._spin_config = {}
        for combo in (p.scheduler, p.mode):
            for row in range(combo.count()):
                combo.model().item(row).setEnabled(True)
                combo.model().item(row).setToolTip("")
        if self.essentials is not None:
            self.essentials.setRowVisible(m.adapter, True)
        p.aspect.show()
        self.sizes.hide()

    # -- values ------------------------------------------------------------------------------

    def _values_widgets(self) -> dict[str, QWidget]:
        p = self.window.parameters
        return {"frames": p.frames, "width": p.width_spin, "height": p.height_spin, "fps": p.fps,
                "steps": p.steps, "guidance": p.guidance, "scheduler": p.scheduler, "mode": p.mode}

    def snapshot(self) -> dict[str, object]:
        values = {name: widget_value(widget) for name, widget in self._values_widgets().items()}
        values["motion_adapter"] = self.window.models.adapter.text()
        return values

    def restore(self, values: dict[str, object]) -> None:
        for name, widget in self._values_widgets().items():
            show_value(widget, values[name])
        self.window.models.adapter.set_text(str(values["motion_adapter"]))

    def _snap_frames(self, frames: int) -> None:
        if self.family is DEFAULT_FAMILY:
            return
        limits = self.family.constraints(self.configs)
        if not limits.valid_frames(frames):
            spin = self.window.parameters.frames
            nearest = min(limits.nearest_frames(frames), key=lambda n: (abs(n - frames), -n))
            spin.setValue(max(spin.minimum(), min(spin.maximum(), nearest)))

    def _size_changed(self) -> None:
        p = self.window.parameters
        if self.family is not DEFAULT_FAMILY:
            step = self.family.constraints(self.configs).size_multiple
            for spin in (p.width_spin, p.height_spin):
                value = spin.value()
                if value % step:
                    spin.setValue(max(spin.minimum(), round(value / step) * step))
        index = self.sizes.findData(f"{p.width_spin.value()}x{p.height_spin.value()}")
        self.sizes.setCurrentIndex(index if index >= 0 else self.sizes.count() - 1)

    def _fill_sizes(self) -> None:
        self.sizes.clear()
        if self.family is not DEFAULT_FAMILY:
            for width, height in self.family.native_sizes(self.configs):
                self.sizes.addItem(f"{width} × {height}", f"{width}x{height}")
        self.sizes.addItem(self.tr("Custom"), None)
        self._size_changed()

    def _size_picked(self) -> None:
        size = self.sizes.currentData()
        if size is not None:
            width, height = (int(n) for n in size.split("x"))
            p = self.window.parameters
            p.width_spin.setValue(width)
            p.height_spin.setValue(height)

    def can_start_from_image(self) -> bool:
        return (self.family is not DEFAULT_FAMILY and "image2video" in self.family.modes(self.configs)
                and self.window.parameters.mode.currentData() == "text2video")

    def _show_start_image(self) -> None:
        if self.essentials is not None:
            self.essentials.setRowVisible(self.start_image, self.can_start_from_image())

    # -- the request ---------------------------------------------------------------------------

    def request(self) -> GenerationRequest:
        """The request the form describes, validated (InputError says what to fix): what does
        not apply to the family shown takes its default, the start image is the field's."""
        w, family = self.window, self.family
        try:
            values = dict(w.prompt.read())
        except InputError:
            if family.applies("prompt_travel"):
                raise
            values = {"prompt": widget_value(w.prompt.prompt),
                      "negative_prompt": widget_value(w.prompt.negative)}
        values.update(w.parameters.read())
        try:
            values.update(w.guidance.read())
        except InputError:
            if family.applies("controls"):
                raise
        model = w.models.spec()
        for path in family.unsupported:
            declared = BY_PATH[path]
            if path.startswith("model."):
                model = dataclasses.replace(model, **{declared.name: declared.default})
            else:
                values[declared.name] = declared.default
        values["start_image"] = self.start_image.value() if self.can_start_from_image() else None
        request = GenerationRequest(**values, model=model).with_absolute_paths()
        request.validate()
        return request

    def fill(self, request: GenerationRequest) -> None:
        """Show a request (a take's, the last session's): the values as they are, the form's
        options following the family of its base model once that is known."""
        # The AnimateDiff form's values to come back to: the ones shown now, or the ones kept
        # while a Wan model was shown.
        self._pending_saved = self.snapshot() if self.family is DEFAULT_FAMILY else self._saved
        self.restore_config()  # the values go into the widgets' full ranges
        self.family, self.configs = DEFAULT_FAMILY, ModelConfigs("")
        self._keep_values = True
        w = self.window
        fill_panels(request, w.prompt, w.parameters, w.models, w.guidance)
        self.start_image.set_value(request.start_image)
        self.detect_now()
