"""The left column: the prompts and Generate at the top, the choices everyone makes below them,
and everything else folded into "Advanced" sections that remember whether they are open."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend.core.request import SETTINGS
from gui.guidance_lanes import GuidanceLanes
from gui.guidance_panel import GuidancePanel
from gui.i18n import translate
from gui.panels import guard_wheel, hrow
from gui.setting_widgets import translated

# The Advanced sections, in order: (key, title). The key names the section in the settings
# and in objectNames (`<key>Section`, `<key>SectionToggle`).
SECTIONS = (
    ("sampling", QT_TRANSLATE_NOOP("InputForm", "Sampling")),
    ("loras", QT_TRANSLATE_NOOP("InputForm", "LoRAs and embeddings")),
    ("motion", QT_TRANSLATE_NOOP("InputForm", "Motion and prompt travel")),
    ("guidance", QT_TRANSLATE_NOOP("InputForm", "Guidance")),
    ("memory", QT_TRANSLATE_NOOP("InputForm", "Memory and device")),
    ("remote", QT_TRANSLATE_NOOP("InputForm", "Render on other machines")),
)


class Section(QWidget):
    """A titled part of the form that folds away: a toggle with an arrow and a body."""

    toggled = Signal(str, bool)

    def __init__(self, key: str, title: str, body: QWidget | QLayout) -> None:
        super().__init__()
        self.key = key
        self.setObjectName(f"{key}Section")
        self.button = QToolButton()
        self.button.setObjectName(f"{key}SectionToggle")
        self.button.setAccessibleName(title)
        self.button.setToolTip(self.tr("Show or hide {0}.").format(title))
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setAutoRaise(True)
        self.button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        font = self.button.font()
        font.setBold(True)
        self.button.setFont(font)
        if isinstance(body, QLayout):
            holder = QWidget()
            holder.setLayout(body)
            body = holder
        self.body = body
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(line)
        layout.addWidget(self.button)
        layout.addWidget(self.body)
        self.button.toggled.connect(self._show)
        self._show(False)

    def _show(self, open_: bool) -> None:
        self.button.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)
        self.body.setVisible(open_)
        self.toggled.emit(self.key, open_)

    def is_open(self) -> bool:
        return self.button.isChecked()

    def set_open(self, open_: bool) -> None:
        self.button.setChecked(open_)


def form() -> QFormLayout:
    """A form whose labels move above their fields when the column is too narrow for both."""
    layout = QFormLayout()
    layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    layout.setContentsMargins(4, 2, 4, 2)
    return layout


def build_input_column(window, remote_panel: QWidget) -> tuple[QWidget, dict[str, Section]]:
    """The left column's widget and its sections by key."""
    prompt, params, models = window.prompt, window.parameters, window.models
    window.guidance = GuidancePanel()
    window.lanes = GuidanceLanes(window.guidance, prompt, params.frames.value())
    params.frames.valueChanged.connect(window.lanes.set_frame_count)
    prompt.travel.itemChanged.connect(window.lanes.update)
    window.lanes.previewFailed.connect(window.set_status)
    button = window.guidance.preview_button  # one preview at a time: each may load a model
    window.lanes.previewStarted.connect(lambda: (
        button.setEnabled(False),
        window.set_status(translate("MainWindow", "Preparing the control preview…"))))
    window.lanes.previewReady.connect(lambda: (
        button.setEnabled(True), window.set_status(translate("MainWindow", "Control preview ready"))))
    window.lanes.previewFailed.connect(lambda _message: button.setEnabled(True))
    window.player.add_lane_widget(window.lanes)
    window.guidance.preview_button.clicked.connect(window.lanes.preview_control)
    from gui.family_form import FamilyForm

    family = window.family_form = FamilyForm(window)

    top = QWidget()
    top_layout = QVBoxLayout(top)
    top_layout.setContentsMargins(0, 0, 0, 0)
    top_layout.addWidget(prompt)
    buttons = QHBoxLayout()
    buttons.addWidget(window.generate_button, 3)
    buttons.addWidget(window.cancel_button, 1)
    top_layout.addLayout(buttons)

    essentials = form()
    essentials.addRow(label("mode"), params.mode)
    essentials.addRow(label("input_video"), params.input_row)
    essentials.addRow(label("strength"), params.strength)
    essentials.addRow(label("start_image"), family.start_image)
    essentials.addRow(label("base_model"), models.base)
    essentials.addRow(label("motion_adapter"), models.adapter)
    essentials.addRow(label("preset"), params.quality)
    essentials.addRow(translate("InputForm", "Duration"), hrow(params.frames, params.seconds, params.fps))
    essentials.addRow(translate("InputForm", "Size"), hrow(params.aspect, family.sizes, params.width_spin, params.height_spin,
                                   stretch=params.aspect))
    essentials.addRow(translate("InputForm", "Seed"), hrow(params.seed, params.random_seed, stretch=params.seed))

    def show_video_rows() -> None:
        video = params.mode.currentData() == "video2video"
        essentials.setRowVisible(params.input_row, video)
        essentials.setRowVisible(params.strength, video)

    params.mode.currentIndexChanged.connect(show_video_rows)
    show_video_rows()
    family.attach(essentials)

    sampling = form()
    sampling.addRow(label("steps"), params.steps)
    sampling.addRow(label("guidance"), params.guidance)
    sampling.addRow(label("scheduler"), params.scheduler)
    sampling.addRow(label("clip_skip"), params.clip_skip)

    loras = form()
    loras.addRow(wide_label(label("motion_loras")))
    loras.addRow(models.loras)
    loras.addRow(wide_label(label("loras")))
    loras.addRow(models.image_loras)
    loras.addRow(wide_label(label("embeddings")))
    loras.addRow(models.embeddings)

    motion = form()
    motion.addRow(translate("InputForm", "FreeInit"), hrow(params.free_init, params.free_init_method, params.free_init_fast,
                                   stretch=params.free_init_method))
    motion.addRow(params.freeu, hrow(*params.freeu_values, end_stretch=True))
    motion.addRow(params.free_noise, hrow(params.context_length, params.context_stride))
    motion.addRow(wide_label(label("prompt_travel")))
    motion.addRow(prompt.travel_box)

    guidance = form()
    guidance.addRow(wide_label(label("controls")))
    guidance.addRow(window.guidance)
    guidance.addRow(label("sparse_control"), window.guidance.sparse)
    guidance.addRow(wide_label(label("keyframes")))
    guidance.addRow(window.guidance.keyframe_rows())
    guidance.addRow(label("ip_adapter"), window.guidance.ip_image)
    guidance.addRow(label("ip_adapter_model"), window.guidance.ip_model)

    memory = form()
    memory.addRow(label("device"), models.device)
    memory.addRow(label("dtype"), models.dtype)
    memory.addRow(label("offload"), models.offload)
    memory.addRow(label("memory"), models.memory)
    memory.addRow(label("vae_dtype"), models.vae_dtype)
    memory.addRow("", hrow(models.vae_slicing, models.vae_tiling, end_stretch=True))
    memory.addRow(translate("InputForm", "Speed"), hrow(models.channels_last, models.compile_unet, end_stretch=True))
    memory.addRow("", hrow(models.unload_button, end_stretch=True))

    if hasattr(remote_panel, "setTitle"):
        remote_panel.setTitle("")  # the section's toggle is its title
        remote_panel.setFlat(True)
    bodies = {"sampling": sampling, "loras": loras, "motion": motion, "guidance": guidance,
              "memory": memory, "remote": remote_panel}
    sections = {key: Section(key, translate("InputForm", title), bodies[key])
                for key, title in SECTIONS}

    align_labels([essentials, sampling, loras, motion, guidance, memory])

    column = QWidget()
    column.setObjectName("inputColumn")
    layout = QVBoxLayout(column)
    layout.setContentsMargins(6, 6, 6, 6)
    layout.addWidget(top)
    essentials_box = QWidget()
    essentials_box.setLayout(essentials)
    layout.addWidget(essentials_box)
    for section in sections.values():
        layout.addWidget(section)
    layout.addStretch(1)
    guard_wheel(*column.findChildren(QAbstractSpinBox), *column.findChildren(QComboBox),
                *column.findChildren(QSlider))
    return column, sections


def align_labels(forms: list[QFormLayout]) -> None:
    """One label column width for all the forms, so their fields line up."""
    labels = [form.itemAt(row, QFormLayout.ItemRole.LabelRole).widget()
              for form in forms for row in range(form.rowCount())
              if form.itemAt(row, QFormLayout.ItemRole.LabelRole) is not None]
    width = max(label.sizeHint().width() for label in labels)
    for label in labels:
        label.setMinimumWidth(width)


def label(setting: str) -> str:
    """A row's label: the setting's declared label, translated."""
    return translated(SETTINGS[setting].label)


def wide_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setContentsMargins(0, 4, 0, 0)
    return label
