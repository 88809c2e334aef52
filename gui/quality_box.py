"""The Quality box tells the truth: once the steps, guidance or scheduler differ from the
preset shown, it shows "Custom" (the request still names the preset the values came from)."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QStandardItemModel

from backend.core.presets import PRESETS


class QualityFollower(QObject):
    """Adds a "Custom" entry to the Quality box of `parameters` (a ParametersPanel) and selects
    it while the values differ from the preset's. The entry cannot be picked: choosing a preset
    is how values are set."""

    def __init__(self, parameters) -> None:
        super().__init__(parameters)
        self.parameters = parameters
        box = parameters.quality
        box.addItem(self.tr("Custom"), box.itemData(0))
        self.custom = box.count() - 1
        model = box.model()
        if isinstance(model, QStandardItemModel):
            model.item(self.custom).setEnabled(False)
        for signal in (parameters.steps.valueChanged, parameters.guidance.valueChanged,
                       parameters.scheduler.currentIndexChanged, box.currentIndexChanged):
            signal.connect(self.update)

    def update(self, *_args) -> None:
        p = self.parameters
        box = p.quality
        name = box.currentData()
        preset = PRESETS.get(name)
        if preset is None:
            return
        same = (p.steps.value() == preset.steps and abs(p.guidance.value() - preset.guidance) < 1e-6
                and p.scheduler.currentData() == preset.scheduler)
        shown = box.currentIndex()
        if shown != self.custom and not same:
            box.setItemData(self.custom, name)  # the recipe the values came from
            box.setCurrentIndex(self.custom)
        elif shown == self.custom and same:
            box.setCurrentIndex(box.findData(name))
