"""The input panels: models, prompt, parameters. Each reads from and writes to a
GenerationRequest, so the window never keeps a second copy of the settings."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend.presets import PRESET_LORA_SOURCES, PRESETS
from backend.request import (
    DEFAULT_BASE_MODEL,
    DEFAULT_MOTION_ADAPTER,
    DEVICES,
    DTYPES,
    FRAMES_RANGE,
    FREE_INIT_METHODS,
    OFFLOADS,
    SCHEDULER_NAMES,
    SEED_RANGE,
    SIZE_RANGE,
    Embedding,
    GenerationRequest,
    ImageLora,
    ModelSpec,
    MotionLora,
)

DEMO_LABEL = "Tiny demo model (offline, noise only)"
# Aspect presets as (long side / short side, landscape?); None is "Custom".
ASPECTS = (
    ("Square 1:1", (1.0, True)),
    ("Landscape 3:2", (1.5, True)),
    ("Portrait 2:3", (1.5, False)),
    ("Wide 16:9", (16 / 9, True)),
    ("Tall 9:16", (16 / 9, False)),
    ("Custom", None),
)
SEED_MAX = SEED_RANGE[1]


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


def spin(name: str, accessible: str, tip: str, low: int, high: int, value: int, step: int = 1) -> QSpinBox:
    box = named(QSpinBox(), name, accessible, tip)
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    return box


class SeedSpinBox(QDoubleSpinBox):
    """A whole-number field for the full seed range 0..2^32-1, which a QSpinBox (int32)
    cannot hold; a double holds every such integer exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.setDecimals(0)
        self.setRange(0, SEED_MAX)
        self.setSingleStep(1)

    def seed(self) -> int:
        return int(round(self.value()))


def dspin(name: str, accessible: str, tip: str, low: float, high: float, value: float, step: float, decimals: int = 2) -> QDoubleSpinBox:
    box = named(QDoubleSpinBox(), name, accessible, tip)
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    return box


class ModelSourceField(QWidget):
    """An editable combo for a hub id, folder or file, with browse buttons and a recent list."""

    changed = Signal()

    def __init__(self, name: str, accessible: str, tip: str, default: str, files: bool, demo: bool) -> None:
        super().__init__()
        self.combo = named(QComboBox(), name, accessible, tip)
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.setMinimumContentsLength(12)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.default = default
        self.demo = demo
        self.local: list[str] = []  # files from the user's model folders that fit this field
        self.combo.currentTextChanged.connect(lambda _: self.changed.emit())
        folder = QToolButton()
        folder.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        folder.setToolTip("Choose a local diffusers model folder")
        folder.setAccessibleName(f"Browse folder for {accessible}")
        folder.clicked.connect(self._browse_folder)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.combo, 1)
        layout.addWidget(folder)
        if files:
            file_button = QToolButton()
            file_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon))
            file_button.setToolTip("Choose a single .safetensors checkpoint")
            file_button.setAccessibleName(f"Browse file for {accessible}")
            file_button.clicked.connect(self._browse_file)
            layout.addWidget(file_button)
        self.set_recent([])

    def set_recent(self, recent: list[str]) -> None:
        text = self.combo.currentText()
        self.combo.blockSignals(True)
        self.combo.clear()
        items = [self.default] + ([DEMO_LABEL] if self.demo else [])
        items += [item for item in recent + self.local if item not in items]
        self.combo.addItems(items)
        self.combo.setCurrentText(text or self.default)
        self.combo.blockSignals(False)

    def set_local(self, paths: list[str]) -> None:
        recent = [self.combo.itemText(i) for i in range(self.combo.count())]
        recent = [r for r in recent if r not in self.local and r not in (self.default, DEMO_LABEL)]
        self.local = list(paths)
        self.set_recent(recent)

    def text(self) -> str:
        return self.combo.currentText().strip()

    def set_text(self, text: str) -> None:
        self.combo.setCurrentText(text)

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder")
        if folder:
            self.combo.setCurrentText(folder)

    def _browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a checkpoint", "", "Safetensors (*.safetensors);;All files (*)")
        if path:
            self.combo.setCurrentText(path)


class LoraList(QWidget):
    """Motion LoRAs (or, with the image arguments, image LoRAs), each with a weight slider;
    several combine."""

    def __init__(self, name: str = "motionLoraTable", accessible: str = "Motion LoRAs",
                 tip: str = "Motion LoRAs add a kind of camera motion (zoom, pan, tilt). Several combine, each with its weight (usually 0.5-1.0).",
                 button_name: str = "addLoraButton", kind=MotionLora, files: bool = False) -> None:
        super().__init__()
        self.kind = kind
        self.files = files
        self.table = named(QTableWidget(0, 3), name, accessible, tip)
        self.table.setHorizontalHeaderLabels(["LoRA", "Weight", ""])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setMinimumHeight(70)
        self.table.setMaximumHeight(120)
        add = QPushButton("Add LoRA…")
        add.setObjectName(button_name)
        add.setAccessibleName(f"Add to {accessible}")
        add.setToolTip(f"Add to {accessible.lower()} from a {'.safetensors file' if files else 'folder or .safetensors file'} (type a hub id in the row to use one from the Hub)")
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
        slider.setToolTip(f"Weight {weight:.2f} (1.0 is full strength)")
        slider.setAccessibleName("LoRA weight")
        slider.valueChanged.connect(lambda v, s=slider: s.setToolTip(f"Weight {v / 100:.2f} (1.0 is full strength)"))
        self.table.setCellWidget(row, 1, slider)
        remove = QToolButton()
        remove.setText("✕")
        remove.setToolTip("Remove this LoRA")
        remove.clicked.connect(lambda: self._remove(remove))
        self.table.setCellWidget(row, 2, remove)

    def _remove(self, button: QToolButton) -> None:
        for row in range(self.table.rowCount()):
            if self.table.cellWidget(row, 2) is button:
                self.table.removeRow(row)
                return

    def _browse(self) -> None:
        if self.files:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a LoRA", "", "Safetensors (*.safetensors);;All files (*)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Choose a motion LoRA folder")
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
        self.table = named(QTableWidget(0, 2), "embeddingTable", "Embeddings",
                           "Textual-inversion embeddings (e.g. negative embeddings): write the token in the prompt or negative prompt. An empty token means <file name>.")
        self.table.setHorizontalHeaderLabels(["Embedding file", "Token"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setMaximumHeight(90)
        add = named(QPushButton("Add embedding…"), "addEmbeddingButton", "Add embedding",
                    "Add a textual-inversion embedding (.safetensors)")
        add.clicked.connect(self._browse)
        remove = named(QPushButton("Remove"), "removeEmbeddingButton", "Remove embedding",
                       "Remove the selected embedding")
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
        path, _ = QFileDialog.getOpenFileName(self, "Choose an embedding", "", "Safetensors (*.safetensors);;All files (*)")
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
        self.base = ModelSourceField(
            "baseModelCombo", "Base model",
            "A Stable Diffusion 1.5-based model: a Hugging Face Hub id, a local diffusers folder, or one .safetensors checkpoint.",
            DEFAULT_BASE_MODEL, files=True, demo=True)
        self.adapter = ModelSourceField(
            "motionAdapterCombo", "Motion adapter",
            "The AnimateDiff motion module that adds movement: a Hub id or a local folder.",
            DEFAULT_MOTION_ADAPTER, files=True, demo=True)
        self.loras = LoraList()
        self.image_loras = LoraList(
            "imageLoraTable", "LoRAs",
            "Style and character LoRAs for Stable Diffusion 1.5 (diffusers, kohya or A1111 .safetensors), each with its weight; they combine with the motion LoRAs.",
            "addImageLoraButton", kind=ImageLora, files=True)
        self.embeddings = EmbeddingList()
        self.device = named(QComboBox(), "deviceCombo", "Device", "Where to run: auto picks a CUDA GPU, then Apple MPS, then the CPU.")
        self.device.addItems(DEVICES)
        self.dtype = named(QComboBox(), "dtypeCombo", "Precision", "Number format: auto is float16 on a GPU and float32 on the CPU. bfloat16 suits recent GPUs.")
        self.dtype.addItems(DTYPES)
        self.offload = named(QComboBox(), "offloadCombo", "CPU offload",
                             "Keep parts of the model in CPU memory: 'model' saves a lot of GPU memory at a small cost; 'sequential' saves the most and is slowest.")
        self.offload.addItems(OFFLOADS)
        self.vae_slicing = named(QCheckBox("VAE slicing"), "vaeSlicingCheck", "VAE slicing", "Decode frames in slices to save memory (changes a few pixels by one level).")
        self.vae_slicing.setChecked(True)
        self.vae_tiling = named(QCheckBox("VAE tiling"), "vaeTilingCheck", "VAE tiling", "Decode in tiles: needed for large sizes on small GPUs.")
        self.channels_last = named(QCheckBox("Channels last"), "channelsLastCheck", "Channels last",
                                   "Store the UNet's weights in channels-last order: often faster on NVIDIA GPUs (see the README's benchmark); may change a few pixels by one level.")
        self.compile_unet = named(QCheckBox("Compile UNet"), "compileUnetCheck", "Compile UNet",
                                  "torch.compile the UNet: the first job takes minutes longer, later jobs with the same models run faster.")
        self.unload_button = named(QPushButton("Unload models"), "unloadButton", "Unload models", "Free the memory the loaded models use; the next job loads them again.")
        # The demo base model only works with the demo adapter: choosing it for one field
        # chooses it for both.
        self.base.combo.currentTextChanged.connect(lambda text: self._pair_demo(text, self.adapter))
        self.adapter.combo.currentTextChanged.connect(lambda text: self._pair_demo(text, self.base))
        from backend.model_scan import local_models

        self.offer_local(local_models())

    def _pair_demo(self, text: str, other: ModelSourceField) -> None:
        if text == DEMO_LABEL and other.text() != DEMO_LABEL:
            other.set_text(DEMO_LABEL)

    def offer_local(self, models) -> None:
        """Offer the user's local model files in the fields they fit (from model_scan)."""
        self.base.set_local([m.load_path for m in models if m.kind == "sd15-checkpoint"])
        self.adapter.set_local([m.load_path for m in models if m.kind == "motion-module"])

    def apply_preset(self, name: str) -> None:
        """Put a quality preset's motion adapter and LoRA in the form, keeping the user's own
        LoRAs (only other presets' LoRAs are taken out)."""
        preset = PRESETS[name]
        self.adapter.set_text(preset.motion_adapter)
        kept = [lora for lora in self.image_loras.loras() if lora.source not in PRESET_LORA_SOURCES]
        self.image_loras.set_loras((*preset.loras, *kept))

    def _resolve(self, text: str, role: str) -> str:
        if text == DEMO_LABEL:
            root = self.demo_path()
            return f"{root}/base" if role == "base" else f"{root}/motion-adapter"
        return text

    def uses_demo_model(self) -> bool:
        return DEMO_LABEL in (self.base.text(), self.adapter.text())

    def spec(self) -> ModelSpec:
        return ModelSpec(
            base_model=self._resolve(self.base.text(), "base"),
            motion_adapter=self._resolve(self.adapter.text(), "adapter"),
            motion_loras=self.loras.loras(),
            loras=self.image_loras.loras(),
            embeddings=self.embeddings.embeddings(),
            channels_last=self.channels_last.isChecked(),
            compile_unet=self.compile_unet.isChecked(),
            device=self.device.currentText(),
            dtype=self.dtype.currentText(),
            offload=self.offload.currentText(),
            vae_slicing=self.vae_slicing.isChecked(),
            vae_tiling=self.vae_tiling.isChecked(),
        )

    def set_spec(self, spec: ModelSpec) -> None:
        root = self.demo_path()
        base = DEMO_LABEL if spec.base_model == f"{root}/base" else spec.base_model
        adapter = DEMO_LABEL if spec.motion_adapter == f"{root}/motion-adapter" else spec.motion_adapter
        self.base.set_text(base)
        self.adapter.set_text(adapter)
        self.loras.set_loras(spec.motion_loras)
        self.image_loras.set_loras(spec.loras)
        self.embeddings.set_embeddings(spec.embeddings)
        self.channels_last.setChecked(spec.channels_last)
        self.compile_unet.setChecked(spec.compile_unet)
        self.device.setCurrentText(spec.device)
        self.dtype.setCurrentText(spec.dtype)
        self.offload.setCurrentText(spec.offload)
        self.vae_slicing.setChecked(spec.vae_slicing)
        self.vae_tiling.setChecked(spec.vae_tiling)


class PromptPanel(QWidget):
    """The prompt and negative prompt (shown together at the top), and the prompt-travel
    table in `travel_box` (shown in an Advanced section)."""

    def __init__(self) -> None:
        super().__init__()
        self.prompt = named(QPlainTextEdit(), "promptEdit", "Prompt",
                            "What to animate. Comma-separated phrases work well, e.g. 'a sunset over the sea, fishing boats, golden hour'.")
        self.prompt.setPlaceholderText("a sunset over the sea, fishing boats, golden hour")
        self.prompt.setTabChangesFocus(True)
        self.negative = named(QPlainTextEdit(), "negativePromptEdit", "Negative prompt",
                              "What to avoid, e.g. 'bad quality, worse quality, blurry'.")
        self.negative.setPlaceholderText("bad quality, worse quality")
        self.negative.setTabChangesFocus(True)
        self.prompt.setMinimumHeight(60)
        self.prompt.setMaximumHeight(120)
        self.negative.setMinimumHeight(40)
        self.negative.setMaximumHeight(60)
        self.travel = named(QTableWidget(0, 2), "promptTravelTable", "Prompt travel",
                            "Prompt travel: from this frame on, the prompt changes smoothly to this text (uses FreeNoise).")
        self.travel.setHorizontalHeaderLabels(["Frame", "Prompt from this frame"])
        self.travel.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.travel.verticalHeader().setVisible(False)
        self.travel.setMaximumHeight(100)
        add = QPushButton("Add frame prompt")
        add.setObjectName("addTravelButton")
        add.setToolTip("Add a prompt that takes over at a later frame")
        add.clicked.connect(lambda: self.add_travel(8, ""))
        remove = QPushButton("Remove")
        remove.setToolTip("Remove the selected frame prompt")
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
        from backend.errors import InputError

        result = {}
        for row in range(self.travel.rowCount()):
            frame_item, text_item = self.travel.item(row, 0), self.travel.item(row, 1)
            frame_text = frame_item.text().strip() if frame_item else ""
            text = text_item.text().strip() if text_item else ""
            if not frame_text and not text:
                continue
            if not frame_text.isdigit():
                raise InputError(f"prompt travel row {row + 1}: the frame must be a number, got {frame_text!r}")
            result[int(frame_text)] = text
        return result

    def set_travel(self, prompts: dict[int, str]) -> None:
        self.travel.setRowCount(0)
        for frame, text in sorted(prompts.items()):
            self.add_travel(frame, text)


class ParametersPanel(QObject):
    """The sampling widgets and their mapping to a request; the window lays them out
    (gui/input_form.py)."""

    inputVideoChosen = Signal(str)
    presetChosen = Signal(str)  # a quality preset picked by the user: models follow it

    def __init__(self) -> None:
        super().__init__()
        d = GenerationRequest()
        self.mode = named(QComboBox(), "modeCombo", "Mode", "Text to video makes a clip from the prompt; video to video restyles an input clip.")
        self.mode.addItem("Text to video", "text2video")
        self.mode.addItem("Video to video", "video2video")
        self.input_video = named(QLineEdit(), "inputVideoEdit", "Input video", "The clip to restyle: a video file, an animated GIF/WebP or a folder of frames. You can also drop a file on the window.")
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the input video")
        browse.setAccessibleName("Browse input video")
        browse.clicked.connect(self._browse_input)
        self.input_row = QWidget()
        row = QHBoxLayout(self.input_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.input_video, 1)
        row.addWidget(browse)
        self.strength = dspin("strengthSpin", "Strength", "How far to move away from the input video: 0.3 keeps it close, 0.8 (default) restyles strongly, 1.0 ignores it.", 0.01, 1.0, d.strength, 0.05)
        self.frames = spin("framesSpin", "Frames", "Number of frames. 16 is what the motion modules were trained on; longer clips use FreeNoise. Video to video takes at most this many input frames.", 1, 1024, d.frames)
        self.width_spin = spin("widthSpin", "Width", "Width in pixels, a multiple of 8. SD1.5 models work best at 512.", 64, 2048, d.width, 8)
        self.height_spin = spin("heightSpin", "Height", "Height in pixels, a multiple of 8. SD1.5 models work best at 512.", 64, 2048, d.height, 8)
        self.steps = spin("stepsSpin", "Steps", "Denoising steps: more is slower and usually cleaner. 20-30 is typical (4-8 for LCM).", 1, 500, d.steps)
        self.guidance = dspin("guidanceSpin", "Guidance", "How strictly to follow the prompt (CFG scale). 7-8 is typical; LCM uses 1-2.", 0.0, 50.0, d.guidance, 0.5)
        self.seed = named(SeedSpinBox(), "seedSpin", "Seed", "The random seed, 0 to 4294967295: the same seed and settings give the same clip.")
        self.seed.setValue(42)
        self.random_seed = named(QCheckBox("Random"), "randomSeedCheck", "Random seed", "Pick a new seed for every job (the one used is shown and kept with the take). Untick to lock the seed.")
        self.random_seed.setChecked(True)
        self.random_seed.toggled.connect(lambda on: self.seed.setEnabled(not on))
        self.seed.setEnabled(False)
        self.scheduler = named(QComboBox(), "schedulerCombo", "Scheduler", "The sampler. DDIM is the AnimateDiff documentation's choice; DPM++ 2M Karras is sharp at few steps; LCM is for AnimateLCM.")
        for name in SCHEDULER_NAMES:
            self.scheduler.addItem(name, name)
        self.quality = named(QComboBox(), "qualityCombo", "Quality",
                             "A documented recipe: Standard (DDIM, 25 steps); AnimateLCM and Lightning are distilled motion models that need 6 and 4 steps. Picking one sets the motion adapter, scheduler, steps, guidance and LoRA; change any of them afterwards as you like.")
        for preset in PRESETS.values():
            self.quality.addItem(preset.label, preset.name)
        self.quality.activated.connect(lambda _: self._preset_picked())
        self.fps = spin("fpsSpin", "Frames per second", "Playback and export rate. AnimateDiff clips are usually played at 8 fps.", 1, 60, d.fps)
        self.clip_skip = spin("clipSkipSpin", "Clip skip", "Use an earlier text-encoder layer: 0 is off, 1-2 suits many anime models.", 0, 10, 0)
        self.free_init = spin("freeInitSpin", "FreeInit iterations", "FreeInit: re-runs the denoising 2-3 times for steadier motion; 0 is off. Each iteration costs a full run.", 0, 10, 0)
        self.free_init_method = named(QComboBox(), "freeInitMethodCombo", "FreeInit filter", "The frequency filter FreeInit uses; butterworth is the default.")
        self.free_init_method.addItems(FREE_INIT_METHODS)
        self.free_init_fast = named(QCheckBox("Fast"), "freeInitFastCheck", "FreeInit fast sampling", "Coarse-to-fine: fewer steps in early iterations, faster and a bit lower quality.")
        self.freeu = named(QCheckBox("FreeU"), "freeuCheck", "FreeU", "FreeU re-weights the UNet's features for more detail at no cost. Typical SD1.5 values: 0.9, 0.2, 1.2, 1.4.")
        self.freeu_values = [
            dspin(f"freeu{name.upper()}Spin", f"FreeU {name}", f"FreeU {name} (usual {value})", 0.0, 10.0, value, 0.05)
            for name, value in (("s1", 0.9), ("s2", 0.2), ("b1", 1.2), ("b2", 1.4))
        ]
        self.free_noise = named(QCheckBox("FreeNoise"), "freeNoiseCheck", "FreeNoise", "For clips longer than the motion module's window: denoise in overlapping windows.")
        self.context_length = spin("contextLengthSpin", "Context length", "FreeNoise window in frames; 16 suits most motion modules.", 1, 1024, 16)
        self.context_stride = spin("contextStrideSpin", "Context stride", "Frames between FreeNoise windows (4 is usual).", 1, 1024, 4)

        for box in self.freeu_values:
            box.setMaximumWidth(78)
        self.context_length.setPrefix("window ")
        self.context_stride.setPrefix("stride ")
        self.seconds = dspin("durationSecondsSpin", "Duration in seconds",
                             "The clip's length in seconds at this frame rate; sets the number of frames.",
                             0.1, FRAMES_RANGE[1], d.frames / d.fps, 0.5, 1)
        self.seconds.setSuffix(" s")
        self.frames.setSuffix(" frames")
        self.fps.setSuffix(" fps")
        self.aspect = named(QComboBox(), "aspectCombo", "Aspect ratio",
                            "Shape of the clip. A preset keeps the shorter side and sets the longer one; SD1.5 models work best with the shorter side at 512.")
        for label, ratio in ASPECTS:
            self.aspect.addItem(label, ratio)
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
        path, _ = QFileDialog.getOpenFileName(self.input_video, "Choose the input video", "", "Videos and animations (*.mp4 *.mov *.webm *.mkv *.avi *.gif *.webp);;All files (*)")
        if path:
            self.set_input_video(path)

    def set_input_video(self, path: str) -> None:
        self.input_video.setText(path)
        self.mode.setCurrentIndex(self.mode.findData("video2video"))
        self.inputVideoChosen.emit(path)
