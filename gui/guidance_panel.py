"""The Guidance section: ControlNets with their control videos, SparseCtrl keyframes and an
IP-Adapter reference image (backend/core/guidance.py). Widgets come from the settings'
declaration; the tables hold one row per control or keyframe."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from backend.core.guidance import (
    PREPROCESSORS,
    ControlSpec,
    Keyframe,
    parse_reference,
    parse_sparse_control,
)
from backend.core.request import FRAMES_RANGE
from gui.setting_widgets import setting_widget, show_value


def _named(widget: QWidget, name: str, accessible: str, tip: str = "") -> QWidget:
    widget.setObjectName(name)
    widget.setAccessibleName(accessible)
    if tip:
        widget.setToolTip(tip)
    return widget


class GuidancePanel(QWidget):
    """Controls, keyframes and the IP-Adapter image; `changed` when any of them changes (the
    lanes under the player follow it)."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("guidancePanel")
        self.setAccessibleName(self.tr("Guidance"))
        self.controls = setting_widget("controls", QTableWidget(0, 6))
        self.controls.setHorizontalHeaderLabels([
            self.tr("Model"), self.tr("Source"), self.tr("Preprocess"), self.tr("Weight"),
            self.tr("Start"), self.tr("End")])
        self.controls.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.controls.setMinimumHeight(90)
        self.add_control_button = _named(QPushButton(self.tr("Add control")), "addControlButton",
                                         self.tr("Add control"), self.tr("Add a ControlNet row"))
        self.remove_control_button = _named(QPushButton(self.tr("Remove control")),
                                            "removeControlButton", self.tr("Remove control"),
                                            self.tr("Remove the selected ControlNet row"))
        self.preview_button = _named(QPushButton(self.tr("Preview control")), "previewControlButton",
                                     self.tr("Preview control"),
                                     self.tr("Show the first control's preprocessed frames in the "
                                             "lane under the player, before generating"))
        self.clip_button = _named(QPushButton(self.tr("Control from a clip…")), "controlClipButton",
                                  self.tr("Control from a clip"),
                                  self.tr("Choose a video or image to be the first control's "
                                          "source (or drop a video on the window with Shift)"))
        self.clip_button.clicked.connect(self._choose_clip)
        self.add_control_button.clicked.connect(lambda: self.add_control(ControlSpec("")))
        self.remove_control_button.clicked.connect(lambda: self._remove_row(self.controls))
        self.sparse = setting_widget("sparse_control")
        self.keyframes = setting_widget("keyframes", QTableWidget(0, 2))
        self.keyframes.setHorizontalHeaderLabels([self.tr("Frame"), self.tr("Image")])
        self.keyframes.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.keyframes.setMinimumHeight(70)
        self.add_keyframe_button = _named(QPushButton(self.tr("Add keyframe")), "addKeyframeButton",
                                          self.tr("Add keyframe"), self.tr("Add a keyframe row"))
        self.remove_keyframe_button = _named(QPushButton(self.tr("Remove keyframe")),
                                             "removeKeyframeButton", self.tr("Remove keyframe"),
                                             self.tr("Remove the selected keyframe"))
        self.add_keyframe_button.clicked.connect(lambda: self.add_keyframe(Keyframe(0, "")))
        self.remove_keyframe_button.clicked.connect(lambda: self._remove_row(self.keyframes))
        self.ip_image = setting_widget("ip_adapter")
        self.ip_model = setting_widget("ip_adapter_model")
        for edit in (self.sparse, self.ip_image, self.ip_model):
            edit.textChanged.connect(self.changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.controls)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_control_button)
        buttons.addWidget(self.remove_control_button)
        buttons.addWidget(self.clip_button)
        buttons.addWidget(self.preview_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

    def _choose_clip(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self, self.tr("Control video"), "",
            self.tr("Videos and images (*.mp4 *.mov *.webm *.mkv *.gif *.webp *.png *.jpg)"))
        if path:
            self.set_control_source(path)

    # -- rows -------------------------------------------------------------------------------

    def _remove_row(self, table: QTableWidget) -> None:
        row = table.currentRow() if table.currentRow() >= 0 else table.rowCount() - 1
        if row >= 0:
            table.removeRow(row)
            self.changed.emit()

    def add_control(self, control: ControlSpec) -> None:
        row = self.controls.rowCount()
        self.controls.insertRow(row)
        model = _named(QLineEdit(control.model), f"controlModelEdit{row}", self.tr("Control model"),
                       self.tr("A ControlNet: Hub id, diffusers folder or v1.1 .safetensors file"))
        source = _named(QLineEdit(control.source or ""), f"controlSourceEdit{row}",
                        self.tr("Control source"),
                        self.tr("The control video, GIF, folder of frames or image (empty: the "
                                "input video in video to video)"))
        kind = _named(QComboBox(), f"controlPreprocessCombo{row}", self.tr("Preprocessor"))
        for name in PREPROCESSORS:
            kind.addItem(name, name)
        kind.setCurrentIndex(kind.findData(control.preprocess))
        numbers = []
        for index, (value, label) in enumerate(((control.weight, self.tr("Control weight")),
                                                (control.start, self.tr("Control start")),
                                                (control.end, self.tr("Control end")))):
            box = _named(QDoubleSpinBox(), f"control{('Weight', 'Start', 'End')[index]}Spin{row}", label)
            box.setRange(0.0, 2.0 if index == 0 else 1.0)
            box.setSingleStep(0.05)
            box.setValue(value)
            box.valueChanged.connect(self.changed)
            numbers.append(box)
        for column, widget in enumerate((model, source, kind, *numbers)):
            self.controls.setCellWidget(row, column, widget)
        model.textChanged.connect(self.changed)
        source.textChanged.connect(self.changed)
        kind.currentIndexChanged.connect(self.changed)
        self.changed.emit()

    def add_keyframe(self, keyframe: Keyframe) -> None:
        row = self.keyframes.rowCount()
        self.keyframes.insertRow(row)
        frame = _named(QSpinBox(), f"keyframeFrameSpin{row}", self.tr("Keyframe frame"))
        frame.setRange(0, FRAMES_RANGE[1] - 1)
        frame.setValue(keyframe.frame)
        image = _named(QLineEdit(keyframe.image), f"keyframeImageEdit{row}", self.tr("Keyframe image"))
        self.keyframes.setCellWidget(row, 0, frame)
        self.keyframes.setCellWidget(row, 1, image)
        frame.valueChanged.connect(self.changed)
        image.textChanged.connect(self.changed)
        self.changed.emit()

    def set_control_source(self, path: str) -> None:
        """Make `path` the first control's source (a row is added when there is none)."""
        if self.controls.rowCount() == 0:
            self.add_control(ControlSpec(""))
        self.controls.cellWidget(0, 1).setText(path)

    def keyframe_list(self) -> list[Keyframe]:
        return [Keyframe(self.keyframes.cellWidget(r, 0).value(), self.keyframes.cellWidget(r, 1).text().strip())
                for r in range(self.keyframes.rowCount())]

    def set_keyframes(self, keyframes: list[Keyframe]) -> None:
        self.keyframes.setRowCount(0)
        for keyframe in sorted(keyframes, key=lambda k: k.frame):
            self.add_keyframe(keyframe)
        self.changed.emit()

    # -- the request's fields ---------------------------------------------------------------

    def read(self) -> dict[str, Any]:
        controls = []
        for r in range(self.controls.rowCount()):
            cell = self.controls.cellWidget
            controls.append(ControlSpec(
                cell(r, 0).text().strip(), cell(r, 1).text().strip() or None, cell(r, 2).currentData(),
                cell(r, 3).value(), cell(r, 4).value(), cell(r, 5).value()))
        sparse = self.sparse.text().strip()
        image = self.ip_image.text().strip()
        return {
            "controls": tuple(controls),
            "sparse_control": parse_sparse_control(sparse) if sparse else None,
            "keyframes": tuple(k for k in self.keyframe_list()),
            "ip_adapter": parse_reference(image) if image else None,
            "ip_adapter_model": self.ip_model.text().strip(),
        }

    def fill(self, request) -> None:
        self.controls.setRowCount(0)
        for control in request.controls:
            self.add_control(control)
        self.set_keyframes(list(request.keyframes))
        sparse = request.sparse_control
        show_value(self.sparse, sparse and (sparse.model if sparse.weight == 1.0
                                            else f"{sparse.model}:{sparse.weight:g}"))
        reference = request.ip_adapter
        show_value(self.ip_image, reference and (reference.image if reference.scale == 1.0
                                                 else f"{reference.image}:{reference.scale:g}"))
        show_value(self.ip_model, request.ip_adapter_model)

    def keyframe_rows(self) -> QWidget:
        """The keyframe table with its buttons, for the form."""
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.keyframes)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_keyframe_button)
        buttons.addWidget(self.remove_keyframe_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        return box
