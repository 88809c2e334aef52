"""The input panels: models, prompt, parameters. Each reads from and writes to a
GenerationRequest, so the window never keeps a second copy of the settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend.core.presets import PRESET_LORA_SOURCES, PRESETS
from backend.core.request import (
    FRAMES_RANGE,
    SETTINGS,
    SIZE_RANGE,
    Embedding,
    GenerationRequest,
    ImageLora,
    ModelSpec,
    MotionLora,
    random_seed,
)
from gui.demo_entries import (  # noqa: F401 - DEMO_LABEL and demo_label are imported from here
    DEMO_LABEL,
    base_entry,
    base_location,
    demo_label,
    is_any_demo,
    is_demo,
    wan_demo_labels,
    wan_demo_shape,
)
from gui.i18n import translate
from gui.local_models import LocalModelScan
from gui.quality_box import QualityFollower
from gui.setting_widgets import (
    SettingFields,
    declare,
    part_widgets,
    setting_widget,
    show_value,
    switch_widget,
    widget_value,
)

# Aspect presets as (long side / short side, landscape?); None is "Custom". Shown translated.
ASPECTS = (
    (QT_TRANSLATE_NOOP("ParametersPanel", "Square 1:1"), (1.0, True)),
    (QT_TRANSLATE_NOOP("ParametersPanel", "Landscape 3:2"), (1.5, True)),
    (QT_TRANSLATE_NOOP("ParametersPanel", "Portrait 2:3"), (1.5, False)),
    (QT_TRANSLATE_NOOP("ParametersPanel", "Wide 16:9"), (16 / 9, True)),
    (QT_TRANSLATE_NOOP("ParametersPanel", "Tall 9:16"), (16 / 9, False)),
    (QT_TRANSLATE_NOOP("ParametersPanel", "Custom"), None),
)
SAFETENSORS_FILTER = QT_TRANSLATE_NOOP("ModelsPanel", "Safetensors (*.safetensors);;All files (*)")


class _WheelGuard(QObject):
    """Lets the mouse wheel scroll the form instead of changing a field the pointer happens to
    pass over: an unfocused field ignores the wheel (Qt then hands it to the scroll area)."""

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Wheel and not watched.hasFocus():
            event.ignore()
            return True
        return False


_wheel_guard = _WheelGuard()


def guard_wheel(*widgets: QWidget) -> None:
    """Fields in a scrolling form change on the wheel only once clicked into (focused)."""
    for widget in widgets:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        widget.installEventFilter(_wheel_guard)


def aspect_size(ratio: tuple[float, bool], short: int) -> tuple[int, int]:
    """(width, height) with `short` as the shorter side and the longer one a multiple of 8."""
    factor, landscape = ratio
    long = min(SIZE_RANGE[1], max(short, round(short * factor / 8) * 8))
    return (long, short) if landscape else (short, long)


def named(widget, name: str, accessible: str, tip: str):
    widget.setObjectName(name)
    widget.setAccessibleName(accessible)
    widget.setToolTip(tip)
    return widget


def hrow(*widgets: QWidget, stretch: QWidget | None = None, end_stretch: bool = False) -> QHBoxLayout:
    """Widgets side by side in one form row; `stretch` takes the spare width."""
    layout = QHBoxLayout()
    for widget in widgets:
        layout.addWidget(widget, 1 if widget is stretch else 0)
    if end_stretch:
        layout.addStretch(1)
    return layout


class ModelSourceField(QWidget):
    """An editable combo for a hub id, folder or file, with browse buttons and a recent list."""

    changed = Signal()

    def __init__(self, setting: str, files: bool, demo: bool, wan_demos: bool = False) -> None:
        super().__init__()
        self.combo = declare(QComboBox(), setting)
        accessible = self.combo.accessibleName()
        default = SETTINGS[setting].default
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.setMinimumContentsLength(12)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.default = default
        self.demo = demo
        self.wan_demos = wan_demos  # the base model field also offers the Wan demo models
        self.local: list[str] = []  # files from the user's model folders that fit this field
        self.combo.currentTextChanged.connect(lambda _: self.changed.emit())
        # A long text set or picked shows its start, in a narrow column too (not while typing).
        self.combo.currentTextChanged.connect(lambda _: self.show_start(typing=True))
        self.combo.activated.connect(lambda _: self.show_start())
        folder = QToolButton()
        folder.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        folder.setToolTip(self.tr("Choose a local diffusers model folder"))
        folder.setAccessibleName(self.tr("Browse folder for {0}").format(accessible))
        folder.setObjectName(self.combo.objectName() + "FolderButton")
        folder.clicked.connect(self._browse_folder)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.combo, 1)
        layout.addWidget(folder)
        if files:
            file_button = QToolButton()
            file_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon))
            file_button.setToolTip(self.tr("Choose a single .safetensors checkpoint"))
            file_button.setAccessibleName(self.tr("Browse file for {0}").format(accessible))
            file_button.setObjectName(self.combo.objectName() + "FileButton")
            file_button.clicked.connect(self._browse_file)
            layout.addWidget(file_button)
        self.set_recent([])

    def set_recent(self, recent: list[str]) -> None:
        text = self.combo.currentText()
        self.combo.blockSignals(True)
        self.combo.clear()
        items = [self.default] + ([demo_label()] if self.demo else []) + (
            wan_demo_labels() if self.wan_demos else [])
        items += [item for item in recent + self.local if item not in items and not is_any_demo(item)]
        self.combo.addItems(items)
        self.combo.setCurrentText(text or self.default)
        self.combo.lineEdit().setCursorPosition(0)  # a long entry shows its start
        self.combo.blockSignals(False)
        self.show_start()

    def show_start(self, typing: bool = False) -> None:
        edit = self.combo.lineEdit()
        if not (typing and edit.hasFocus()):
            edit.setCursorPosition(0)

    def set_local(self, paths: list[str]) -> None:
        recent = [self.combo.itemText(i) for i in range(self.combo.count())]
        recent = [r for r in recent if r not in self.local and r != self.default and not is_any_demo(r)]
        self.local = list(paths)
        self.set_recent(recent)

    def text(self) -> str:
        return self.combo.currentText().strip()

    def set_text(self, text: str) -> None:
        self.combo.setCurrentText(text)

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Choose a model folder"))
        if folder:
            self.combo.setCurrentText(folder)

    def _browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Choose a checkpoint"), "",
                                              translate("ModelsPanel", SAFETENSORS_FILTER))
        if path:
            self.combo.setCurrentText(path)


class LoraList(QWidget):
    """Motion LoRAs (or, with the image arguments, image LoRAs), each with a weight slider;
    several combine."""

    def __init__(self, setting: str = "motion_loras", button_name: str = "addLoraButton",
                 kind=MotionLora, files: bool = False) -> None:
        super().__init__()
        self.kind = kind
        self.files = files
        self.table = declare(QTableWidget(0, 3), setting)
        accessible = self.table.accessibleName()
        self.table.setHorizontalHeaderLabels(["LoRA", self.tr("Weight"), ""])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setMinimumHeight(70)
        self.table.setMaximumHeight(120)
        add = QPushButton(self.tr("Add LoRA…"))
        add.setObjectName(button_name)
        add.setAccessibleName(self.tr("Add to {0}").format(accessible))
        if files:
            tip = self.tr("Add to {0} from a .safetensors file (type a hub id in the row to use one from the Hub)")
        else:
            tip = self.tr("Add to {0} from a folder or .safetensors file (type a hub id in the row to use one from the Hub)")
        add.setToolTip(tip.format(accessible))
        add.clicked.connect(self._browse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(add, 0, Qt.AlignmentFlag.AlignLeft)

    def add(self, source: str, weight: float = 1.0) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(source))
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(-200, 200)
        slider.setValue(round(weight * 100))
        slider.setToolTip(self._weight_tip(weight))
        slider.setAccessibleName(self.tr("LoRA weight"))
        slider.setObjectName(self.table.objectName() + "WeightSlider")
        guard_wheel(slider)
        slider.valueChanged.connect(lambda v, s=slider: s.setToolTip(self._weight_tip(v / 100)))
        self.table.setCellWidget(row, 1, slider)
        remove = QToolButton()
        remove.setText("✕")
        remove.setToolTip(self.tr("Remove this LoRA"))
        remove.setAccessibleName(self.tr("Remove this LoRA"))
        remove.setObjectName(self.table.objectName() + "RemoveButton")
        remove.clicked.connect(lambda: self._remove(remove))
        self.table.setCellWidget(row, 2, remove)

    def _weight_tip(self, weight: float) -> str:
        return self.tr("Weight {0} (1.0 is full strength)").format(f"{weight:.2f}")

    def _remove(self, button: QToolButton) -> None:
        for row in range(self.table.rowCount()):
            if self.table.cellWidget(row, 2) is button:
                self.table.removeRow(row)
                return

    def _browse(self) -> None:
        if self.files:
            path, _ = QFileDialog.getOpenFileName(self, self.tr("Choose a LoRA"), "",
                                                  translate("ModelsPanel", SAFETENSORS_FILTER))
        else:
            path = QFileDialog.getExistingDirectory(self, self.tr("Choose a motion LoRA folder"))
        if path:
            self.add(path)

    def loras(self) -> tuple[MotionLora, ...]:
        result = []
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            source = item.text().strip() if item else ""
            if source:
                result.append(self.kind(source, self.table.cellWidget(row, 1).value() / 100))
        return tuple(result)

    def set_loras(self, loras: tuple[MotionLora, ...]) -> None:
        self.table.setRowCount(0)
        for lora in loras:
            self.add(lora.source, lora.weight)


class EmbeddingList(QWidget):
    """Textual-inversion embeddings: a file and the token that calls it in prompts."""

    def __init__(self) -> None:
        super().__init__()
        self.table = declare(QTableWidget(0, 2), "embeddings")
        self.table.setHorizontalHeaderLabels([self.tr("Embedding file"), self.tr("Token")])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setMaximumHeight(90)
        add = named(QPushButton(self.tr("Add embedding…")), "addEmbeddingButton", self.tr("Add embedding"),
                    self.tr("Add a textual-inversion embedding (.safetensors)"))
        add.clicked.connect(self._browse)
        remove = named(QPushButton(self.tr("Remove")), "removeEmbeddingButton", self.tr("Remove embedding"),
                       self.tr("Remove the selected embedding"))
        remove.clicked.connect(lambda: self.table.removeRow(self.table.currentRow()) if self.table.currentRow() >= 0 else None)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(hrow(add, remove, end_stretch=True))

    def add(self, source: str, token: str | None = None) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(source))
        self.table.setItem(row, 1, QTableWidgetItem(token or Embedding(source).prompt_token))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Choose an embedding"), "",
                                              translate("ModelsPanel", SAFETENSORS_FILTER))
        if path:
            self.add(path)

    def embeddings(self) -> tuple[Embedding, ...]:
        result = []
        for row in range(self.table.rowCount()):
            source_item, token_item = self.table.item(row, 0), self.table.item(row, 1)
            source = source_item.text().strip() if source_item else ""
            token = token_item.text().strip() if token_item else ""
            if source:
                default = Embedding(source).prompt_token
                result.append(Embedding(source, token if token and token != default else None))
        return tuple(result)

    def set_embeddings(self, embeddings: tuple[Embedding, ...]) -> None:
        self.table.setRowCount(0)
        for embedding in embeddings:
            self.add(embedding.source, embedding.token)


class ModelsPanel(QObject):
    """The model, LoRA, memory and device widgets and their mapping to a ModelSpec; the window
    lays them out (gui/input_form.py)."""

    def __init__(self, demo_path: Callable[[], str]) -> None:
        super().__init__()
        self.demo_path = demo_path
        self.fields = SettingFields()
        self.base = ModelSourceField("base_model", files=True, demo=True, wan_demos=True)
        self.adapter = ModelSourceField("motion_adapter", files=True, demo=True)
        self.loras = LoraList()
        self.image_loras = LoraList("loras", "addImageLoraButton", kind=ImageLora, files=True)
        self.embeddings = EmbeddingList()
        self.device = self.fields.add("device")
        self.dtype = self.fields.add("dtype")
        self.offload = self.fields.add("offload")
        self.vae_slicing = self.fields.add("vae_slicing")
        self.vae_tiling = self.fields.add("vae_tiling")
        self.memory = self.fields.add("memory")
        self.vae_dtype = self.fields.add("vae_dtype")
        self.channels_last = self.fields.add("channels_last")
        self.compile_unet = self.fields.add("compile_unet")
        self.unload_button = named(QPushButton(self.tr("Unload models")), "unloadButton", self.tr("Unload models"),
                                   self.tr("Free the memory the loaded models use; the next job loads them again."))
        # The demo base model only works with the demo adapter: choosing it for one field
        # chooses it for both.
        self.base.combo.currentTextChanged.connect(lambda text: self._pair_demo(text, self.adapter))
        self.adapter.combo.currentTextChanged.connect(lambda text: self._pair_demo(text, self.base))
        self.local_scan = LocalModelScan(self, self.offer_local)  # started once the window shows

    def _pair_demo(self, text: str, other: ModelSourceField) -> None:
        if is_demo(text) and not is_demo(other.text()):
            other.set_text(demo_label())

    def offer_local(self, models) -> None:
        """Offer the user's local model files in the fields they fit (from model_scan)."""
        self.base.set_local([m.load_path for m in models if m.kind == "sd15-checkpoint"])
        self.adapter.set_local([m.load_path for m in models if m.kind == "motion-module"])

    def apply_preset(self, name: str) -> bool:
        """Put a quality preset's motion adapter and LoRA in the form, keeping the user's own
        LoRAs (only other presets' LoRAs are taken out). The demo model keeps its own adapter
        (a real one does not fit it): False then."""
        if self.uses_demo_model():
            return False
        preset = PRESETS[name]
        self.adapter.set_text(preset.motion_adapter)
        kept = [lora for lora in self.image_loras.loras() if lora.source not in PRESET_LORA_SOURCES]
        self.image_loras.set_loras((*preset.loras, *kept))
        return True

    def _resolve(self, text: str, role: str) -> str:
        if role == "base":
            return base_location(text, self.demo_path())
        return f"{self.demo_path()}/motion-adapter" if is_demo(text) else text

    def uses_demo_model(self) -> bool:
        return (is_demo(self.base.text()) or is_demo(self.adapter.text())
                or wan_demo_shape(self.base.text()) is not None)

    def spec(self) -> ModelSpec:
        return ModelSpec(
            base_model=self._resolve(self.base.text(), "base"),
            motion_adapter=self._resolve(self.adapter.text(), "adapter"),
            motion_loras=self.loras.loras(),
            loras=self.image_loras.loras(),
            embeddings=self.embeddings.embeddings(),
            **self.fields.read(),
        )

    def set_spec(self, spec: ModelSpec) -> None:
        root = self.demo_path()
        base = base_entry(spec.base_model, root)
        adapter = demo_label() if spec.motion_adapter == f"{root}/motion-adapter" else spec.motion_adapter
        self.base.set_text(base)
        self.adapter.set_text(adapter)
        self.loras.set_loras(spec.motion_loras)
        self.image_loras.set_loras(spec.loras)
        self.embeddings.set_embeddings(spec.embeddings)
        self.fields.fill(spec)


class PromptPanel(QWidget):
    """The prompt and negative prompt (shown together at the top), and the prompt-travel
    table in `travel_box` (shown in an Advanced section)."""

    def __init__(self) -> None:
        super().__init__()
        self.prompt = setting_widget("prompt", QPlainTextEdit())
        # Example prompts stay English in every language: the SD1.5 text encoder reads English.
        self.prompt.setPlaceholderText("a sunset over the sea, fishing boats, golden hour")
        self.prompt.setTabChangesFocus(True)
        self.negative = setting_widget("negative_prompt", QPlainTextEdit())
        # Visibly an example, not a value: the request's negative prompt is empty until typed.
        self.negative.setPlaceholderText(self.tr("Optional. For example: {0}").format("bad quality, worse quality"))
        self.negative.setTabChangesFocus(True)
        self.prompt.setMinimumHeight(60)
        self.prompt.setMaximumHeight(120)
        self.negative.setMinimumHeight(40)
        self.negative.setMaximumHeight(60)
        self.travel = setting_widget("prompt_travel", QTableWidget(0, 2))
        self.travel.setHorizontalHeaderLabels([self.tr("Frame"), self.tr("Prompt from this frame")])
        self.travel.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.travel.verticalHeader().setVisible(False)
        self.travel.setMaximumHeight(100)
        add = QPushButton(self.tr("Add frame prompt"))
        add.setObjectName("addTravelButton")
        add.setAccessibleName(self.tr("Add frame prompt"))
        add.setToolTip(self.tr("Add a prompt that takes over at a later frame"))
        add.clicked.connect(lambda: self.add_travel(8, ""))
        remove = QPushButton(self.tr("Remove"))
        remove.setToolTip(self.tr("Remove the selected frame prompt"))
        remove.setObjectName("removeTravelButton")
        remove.setAccessibleName(self.tr("Remove the selected frame prompt"))
        remove.clicked.connect(lambda: self.travel.removeRow(self.travel.currentRow()) if self.travel.currentRow() >= 0 else None)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.prompt, 2)
        layout.addWidget(self.negative, 1)
        self.travel_box = QWidget()
        travel_layout = QVBoxLayout(self.travel_box)
        travel_layout.setContentsMargins(0, 0, 0, 0)
        travel_layout.addWidget(self.travel)
        travel_layout.addLayout(buttons)

    def add_travel(self, frame: int, text: str) -> None:
        row = self.travel.rowCount()
        self.travel.insertRow(row)
        self.travel.setItem(row, 0, QTableWidgetItem(str(frame)))
        self.travel.setItem(row, 1, QTableWidgetItem(text))

    def travel_prompts(self) -> dict[int, str]:
        from backend.core.errors import InputError

        result = {}
        for row in range(self.travel.rowCount()):
            frame_item, text_item = self.travel.item(row, 0), self.travel.item(row, 1)
            frame_text = frame_item.text().strip() if frame_item else ""
            text = text_item.text().strip() if text_item else ""
            if not frame_text and not text:
                continue
            if not frame_text.isdigit():
                raise InputError(self.tr("Prompt travel row {0}: the frame must be a number, got {1}").format(
                    row + 1, repr(frame_text)))
            result[int(frame_text)] = text
        return result

    def set_travel(self, prompts: dict[int, str]) -> None:
        self.travel.setRowCount(0)
        for frame, text in sorted(prompts.items()):
            self.add_travel(frame, text)

    def read(self) -> dict[str, Any]:
        """The request fields this panel holds."""
        return {
            "prompt": widget_value(self.prompt),
            "negative_prompt": widget_value(self.negative),
            "prompt_travel": self.travel_prompts(),
        }

    def fill(self, request: GenerationRequest) -> None:
        show_value(self.prompt, request.prompt)
        show_value(self.negative, request.negative_prompt)
        self.set_travel(request.prompt_travel)


class ParametersPanel(QObject):
    """The sampling widgets and their mapping to a request; the window lays them out
    (gui/input_form.py)."""

    inputVideoChosen = Signal(str)
    presetChosen = Signal(str)  # a quality preset picked by the user: models follow it

    def __init__(self) -> None:
        super().__init__()
        self.fields = SettingFields()
        self.mode = self.fields.add("mode")
        self.input_video = self.fields.add("input_video")
        self.input_video.setPlaceholderText(self.tr("A file or folder; or drop a file on the window"))
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip(self.tr("Choose the input video"))
        browse.setAccessibleName(self.tr("Browse input video"))
        browse.setObjectName("browseInputButton")
        browse.clicked.connect(self._browse_input)
        self.input_row = QWidget()
        row = QHBoxLayout(self.input_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.input_video, 1)
        row.addWidget(browse)
        self.strength = self.fields.add("strength")
        self.frames = self.fields.add("frames")
        self.width_spin = self.fields.add("width")
        self.height_spin = self.fields.add("height")
        self.steps = self.fields.add("steps")
        self.guidance = self.fields.add("guidance")
        self.seed = self.fields.add("seed")
        self.random_seed = named(QCheckBox(self.tr("Random")), "randomSeedCheck", self.tr("Random seed"),
                                 self.tr("Pick a new seed for every job (the one used is shown and kept with the take). "
                                         "Untick to lock the seed."))
        self.random_seed.setChecked(True)
        self.random_seed.toggled.connect(lambda on: self.seed.setEnabled(not on))
        self.seed.setEnabled(False)
        self.scheduler = self.fields.add("scheduler")
        self.quality = self.fields.add("preset")
        for index, preset in enumerate(PRESETS.values()):
            self.quality.setItemText(index, translate("Preset", preset.label))
        self.quality.activated.connect(lambda _: self._preset_picked())
        self.quality_follower = QualityFollower(self)  # "Custom" when the values differ
        self.fps = self.fields.add("fps")
        self.clip_skip = self.fields.add("clip_skip")
        self.free_init = self.fields.add("free_init_iters")
        self.free_init_method = self.fields.add("free_init_method")
        self.free_init_fast = self.fields.add("free_init_fast", text=self.tr("Fast"))
        self.freeu = switch_widget("freeu")
        self.freeu_values = part_widgets("freeu")
        self.free_noise = switch_widget("context_length")
        self.context_length = self.fields.add("context_length")
        self.context_stride = self.fields.add("context_stride")

        for box in self.freeu_values:
            box.setMaximumWidth(78)
        self.context_length.setPrefix(self.tr("window "))
        self.context_stride.setPrefix(self.tr("stride "))
        self.seconds = named(QDoubleSpinBox(), "durationSecondsSpin", self.tr("Duration in seconds"),
                             self.tr("The clip's length in seconds at this frame rate; sets the number of frames."))
        self.seconds.setRange(0.1, FRAMES_RANGE[1])
        self.seconds.setDecimals(1)
        self.seconds.setSingleStep(0.5)
        self.seconds.setValue(self.frames.value() / self.fps.value())
        self.seconds.setSuffix(self.tr(" s", "seconds, after a number"))
        self.frames.setSuffix(self.tr(" frames"))
        self.fps.setSuffix(self.tr(" fps", "frames per second, after a number"))
        self.aspect = named(QComboBox(), "aspectCombo", self.tr("Aspect ratio"),
                            self.tr("Shape of the clip. A preset keeps the shorter side and sets the longer one; "
                                    "SD1.5 models work best with the shorter side at 512."))
        for label, ratio in ASPECTS:
            self.aspect.addItem(translate("ParametersPanel", label), ratio)
        self.frames.valueChanged.connect(self._frames_changed)
        self.fps.valueChanged.connect(self._frames_changed)
        self.seconds.valueChanged.connect(self._seconds_changed)
        self.aspect.activated.connect(lambda _: self._aspect_picked())
        self.width_spin.valueChanged.connect(self._size_changed)
        self.height_spin.valueChanged.connect(self._size_changed)
        self.freeu.toggled.connect(self._toggles)
        self.free_noise.toggled.connect(self._toggles)
        self._size_changed()
        self._toggles()

    def _frames_changed(self) -> None:
        self.seconds.blockSignals(True)
        self.seconds.setValue(self.frames.value() / self.fps.value())
        self.seconds.blockSignals(False)

    def _seconds_changed(self, seconds: float) -> None:
        self.frames.blockSignals(True)
        self.frames.setValue(max(1, round(seconds * self.fps.value())))
        self.frames.blockSignals(False)

    def _aspect_picked(self) -> None:
        ratio = self.aspect.currentData()
        if ratio is None:
            return
        width, height = aspect_size(ratio, min(self.width_spin.value(), self.height_spin.value()))
        self.width_spin.setValue(width)
        self.height_spin.setValue(height)

    def _size_changed(self) -> None:
        width, height = self.width_spin.value(), self.height_spin.value()
        short = min(width, height)
        index = next((i for i in range(self.aspect.count())
                      if self.aspect.itemData(i) is not None
                      and aspect_size(self.aspect.itemData(i), short) == (width, height)),
                     self.aspect.count() - 1)
        self.aspect.setCurrentIndex(index)

    def read(self) -> dict[str, Any]:
        """The request fields this panel holds; the seed is a fresh one while Random is ticked."""
        values = self.fields.read()
        if self.random_seed.isChecked():
            values["seed"] = random_seed()
        values["freeu"] = tuple(box.value() for box in self.freeu_values) if self.freeu.isChecked() else None
        if not self.free_noise.isChecked():
            values["context_length"] = None
        return values

    def fill(self, request: GenerationRequest) -> None:
        """Show `request`; an unset seed or FreeNoise window keeps the number shown."""
        self.fields.fill(request)
        self.freeu.setChecked(request.freeu is not None)
        for box, value in zip(self.freeu_values, request.freeu or (), strict=False):
            box.setValue(value)
        self.free_noise.setChecked(request.context_length is not None)

    def _preset_picked(self) -> None:
        preset = PRESETS[self.quality.currentData()]
        self.steps.setValue(preset.steps)
        self.guidance.setValue(preset.guidance)
        self.scheduler.setCurrentIndex(max(0, self.scheduler.findData(preset.scheduler)))
        self.presetChosen.emit(preset.name)

    def set_preset(self, name: str) -> None:
        """Show `name` without applying its values (they come with the request)."""
        self.quality.setCurrentIndex(max(0, self.quality.findData(name)))

    def _toggles(self) -> None:
        for box in self.freeu_values:
            box.setEnabled(self.freeu.isChecked())
        self.context_length.setEnabled(self.free_noise.isChecked())
        self.context_stride.setEnabled(self.free_noise.isChecked())

    def _browse_input(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.input_video, self.tr("Choose the input video"), "",
            self.tr("Videos and animations (*.mp4 *.mov *.webm *.mkv *.avi *.gif *.webp);;All files (*)"))
        if path:
            self.set_input_video(path)

    def set_input_video(self, path: str) -> None:
        self.input_video.setText(path)
        self.mode.setCurrentIndex(self.mode.findData("video2video"))
        self.inputVideoChosen.emit(path)


def request_from_panels(prompt: PromptPanel, parameters: ParametersPanel, models: ModelsPanel,
                        guidance=None) -> GenerationRequest:
    """The request the form describes, validated: InputError says what to fix."""
    extra = guidance.read() if guidance is not None else {}
    request = GenerationRequest(
        **prompt.read(), **parameters.read(), **extra, model=models.spec()
    ).with_absolute_paths()
    request.validate()
    return request


def fill_panels(request: GenerationRequest, prompt: PromptPanel, parameters: ParametersPanel,
                models: ModelsPanel, guidance=None) -> None:
    if guidance is not None:
        guidance.fill(request)
    prompt.fill(request)
    parameters.fill(request)
    models.set_spec(request.model)
