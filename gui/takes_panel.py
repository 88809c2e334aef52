"""The takes panel: every take of the project as a thumbnail, with re-run, vary seed, rename,
favourite, delete (undoable) and compare; and the side-by-side compare dialog."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend.project.project_file import Project, Take
from gui.finish_dialog import own_steps, steps_summary
from gui.player import TimelinePlayer
from gui.thumbnails import ThumbnailLoader

THUMB = QSize(96, 72)


def elided(text: str, widget: QWidget, width: int) -> str:
    """`text` cut to `width` pixels in the widget's font, with "…" where it was cut."""
    return widget.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, width)


class TakesPanel(QWidget):
    takeSelected = Signal(object)  # Take
    rerunRequested = Signal(object)  # Take
    varySeedRequested = Signal(object)  # Take
    changed = Signal()  # the project's takes changed (rename, mark, delete, undo)
    compareRequested = Signal(object, object)  # Take, Take
    finishRequested = Signal(object, object)  # Take, preset: {"interpolate": 2|4, "upscale": bool}
    emptied = Signal()  # the last take was deleted: nothing is shown

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("takesPanel")
        self.project: Project | None = None
        self._undo: list[tuple[Take, int]] = []
        # Thumbnails are read and scaled on a thread of their own and kept: a refresh of the
        # strip decodes no frame on the GUI thread.
        self.thumbnails = ThumbnailLoader(THUMB, self)
        self.thumbnails.ready.connect(self._thumbnail_ready)
        self.list = QListWidget()
        self.list.setObjectName("takesList")
        self.list.setAccessibleName(self.tr("Takes"))
        self.list.setToolTip(self.tr("Every take of this project. Select one to play it and load its settings; select two to compare. Right-click a take to interpolate or upscale it into a new take."))
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setFlow(QListWidget.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setIconSize(THUMB)
        self.list.setMaximumHeight(THUMB.height() + 44)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.list.itemDoubleClicked.connect(lambda item: self.rename(self._take(item)))
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)

        def button(name: str, text: str, tip: str, slot) -> QToolButton:
            # Tool buttons size to their text (push buttons have a wide style minimum), so the
            # row fits a 1024-pixel screen beside the form.
            widget = QToolButton()
            widget.setText(text)
            widget.setAccessibleName(text.strip("…"))
            widget.setObjectName(name)
            widget.setToolTip(tip)
            widget.clicked.connect(slot)
            return widget

        self.rerun_button = button("rerunTakeButton", self.tr("Re-run"), self.tr("Generate this take again with exactly its settings"), lambda: self._with_selected(self.rerunRequested.emit))
        self.vary_button = button("varySeedButton", self.tr("Vary seed"), self.tr("Generate this take again with a new seed"), lambda: self._with_selected(self.varySeedRequested.emit))
        self.rename_button = button("renameTakeButton", self.tr("Rename"), self.tr("Rename the take (or double-click it)"), lambda: self._with_selected(self.rename))
        self.notes_button = button("takeNotesButton", self.tr("Notes…"), self.tr("Write notes on this take (kept in the project)"), lambda: self._with_selected(self.edit_notes))
        self.favourite_button = button("favouriteTakeButton", "★", self.tr("Mark or unmark the take as a favourite"), lambda: self._with_selected(self.toggle_favourite))
        self.favourite_button.setAccessibleName(self.tr("Favourite"))
        self.delete_button = button("deleteTakeButton", self.tr("Delete"), self.tr("Delete the take (Ctrl+Z brings it back)"), lambda: self._with_selected(self.delete))
        self.undo_button = button("undoDeleteButton", self.tr("Undo"), self.tr("Bring back the last deleted take (Ctrl+Z)"), self.undo_delete)
        self.compare_button = button("compareTakesButton", self.tr("Compare"), self.tr("Play the two selected takes side by side"), self._compare)
        QShortcut(QKeySequence.StandardKey.Undo, self, activated=self.undo_delete,
                  context=Qt.ShortcutContext.WindowShortcut)
        buttons = QHBoxLayout()
        for widget in (self.rerun_button, self.vary_button, self.rename_button, self.notes_button,
                       self.favourite_button, self.delete_button, self.undo_button, self.compare_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self._update_buttons()

    def set_project(self, project: Project) -> None:
        self.project = project
        self._undo.clear()
        self.thumbnails.keep_only({take.id for take in project.takes})
        self.refresh()

    def refresh(self, select: Take | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        if self.project is not None:
            for take in self.project.takes:
                star = "★ " if take.favourite else ""
                # A long name is cut to one line, so the line under it stays in view.
                first, _, rest = self.label(take).partition("\n")
                first = elided(star + first, self.list, THUMB.width() + 8)
                item = QListWidgetItem(f"{first}\n{rest}")
                item.setData(Qt.ItemDataRole.UserRole, take.id)
                notes = f"\n\n{take.notes}" if take.notes else ""
                details = self.tr("{0} frames, {1}x{2}, {3} fps, {4}").format(
                    take.frame_count, take.size[0], take.size[1], f"{take.fps:g}", take.created)
                item.setToolTip(f"{take.name}\n{take.request.prompt}\n{details}"
                                f"{self.link_text(take)}{notes}")
                icon = self.thumbnails.icon(self.project, take)
                if icon is not None:
                    item.setIcon(icon)
                self.list.addItem(item)
                if select is not None and take.id == select.id:
                    item.setSelected(True)
                    self.list.scrollToItem(item)
        self.list.blockSignals(False)
        self._update_buttons()

    def parent_of(self, take: Take) -> Take | None:
        return next((t for t in self.project.takes if t.id == take.parent), None) if take.parent else None

    def label(self, take: Take) -> str:
        """'Take 1\nseed 42'; a finished take shows its parent and what was done:
        'Take 3 ← Take 1\n×2 frames'."""
        if not take.parent:
            return self.tr("{0}\nseed {1}").format(take.name, take.request.seed)
        parent = self.parent_of(take)
        source = parent.name if parent is not None else self.tr("a deleted take")
        return self.tr("{0} ← {1}\n{2}").format(take.name, source, steps_summary(own_steps(take, parent)))

    def link_text(self, take: Take) -> str:
        """The tooltip's line on where a finished take comes from, each step with its model."""
        if not take.parent:
            return ""
        parent = self.parent_of(take)
        source = parent.name if parent is not None else self.tr("a deleted take")
        models = ", ".join(str(step.get("model", "")).rsplit("/", 1)[-1] for step in own_steps(take, parent))
        return "\n" + self.tr("Made from {0}: {1} ({2})").format(
            source, steps_summary(own_steps(take, parent)), models)

    def finish_selected(self) -> bool:
        """Open the Finish dialog on the one selected take (Generate › Finish the selected
        take…); False when not exactly one is selected."""
        takes = self.selected_takes()
        if len(takes) == 1:
            self.finishRequested.emit(takes[0], {})
        return len(takes) == 1

    def _context_menu(self, position) -> None:
        take = self._take(self.list.itemAt(position))
        if take is None:
            return
        if take not in self.selected_takes():
            self.select(take)
        menu = QMenu(self)
        menu.setObjectName("takeContextMenu")
        menu.setAccessibleName(self.tr("Take actions"))
        for text, preset in ((self.tr("Interpolate ×2…"), {"interpolate": 2}),
                             (self.tr("Interpolate ×4…"), {"interpolate": 4}),
                             (self.tr("Upscale…"), {"upscale": True}),
                             (self.tr("Finish…"), {})):
            menu.addAction(text, lambda preset=preset: self.finishRequested.emit(take, preset))
        menu.addSeparator()
        menu.addAction(self.tr("Re-run"), lambda: self.rerunRequested.emit(take))
        menu.addAction(self.tr("Vary seed"), lambda: self.varySeedRequested.emit(take))
        menu.addAction(self.tr("Rename"), lambda: self.rename(take))
        menu.addAction(self.tr("Delete"), lambda: self.delete(take))
        self.context_menu = menu
        menu.popup(self.list.viewport().mapToGlobal(position))

    def _thumbnail_ready(self, take_id: str) -> None:
        icon = self.thumbnails.made(take_id)
        for row in range(self.list.count() if icon is not None else 0):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == take_id:
                item.setIcon(icon)

    def selected_takes(self) -> list[Take]:
        if self.project is None:
            return []
        ids = [item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems()]
        return [take for take in self.project.takes if take.id in ids]

    def select(self, take: Take) -> None:
        self.refresh(select=take)
        self.takeSelected.emit(take)

    def _take(self, item: QListWidgetItem) -> Take | None:
        if self.project is None or item is None:
            return None
        return self.project.take(item.data(Qt.ItemDataRole.UserRole))

    def _with_selected(self, action) -> None:
        takes = self.selected_takes()
        if len(takes) == 1:
            action(takes[0])

    def _selection_changed(self) -> None:
        takes = self.selected_takes()
        if len(takes) == 1:
            self.takeSelected.emit(takes[0])
        self._update_buttons()

    def _update_buttons(self) -> None:
        count = len(self.selected_takes())
        for widget in (self.rerun_button, self.vary_button, self.rename_button, self.notes_button,
                       self.favourite_button, self.delete_button):
            widget.setEnabled(count == 1)
        self.compare_button.setEnabled(count == 2)
        self.undo_button.setEnabled(bool(self._undo))

    def rename(self, take: Take | None, name: str | None = None) -> None:
        if take is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self, self.tr("Rename take"), self.tr("Name:"), text=take.name)
            if not ok:
                return
        take.name = name.strip() or take.name
        self.project.touch()
        self.refresh(select=take)
        self.changed.emit()

    def edit_notes(self, take: Take, notes: str | None = None) -> None:
        if notes is None:
            notes, ok = QInputDialog.getMultiLineText(
                self, self.tr("Notes"), self.tr("Notes on {0}:").format(take.name), take.notes)
            if not ok:
                return
        take.notes = notes
        self.project.touch()
        self.refresh(select=take)
        self.changed.emit()

    def toggle_favourite(self, take: Take) -> None:
        take.favourite = not take.favourite
        self.project.touch()
        self.refresh(select=take)
        self.changed.emit()

    def delete(self, take: Take) -> None:
        index = self.project.takes.index(take)
        self.project.remove_take(take.id)
        self._undo.append((take, index))
        takes = self.project.takes  # the next take is shown, else the one before, else nothing
        if takes:
            self.select(takes[min(index, len(takes) - 1)])
        else:
            self.refresh()
            self.emptied.emit()
        self.changed.emit()

    def undo_delete(self) -> None:
        if not self._undo or self.project is None:
            return
        take, index = self._undo.pop()
        self.project.restore_take(take, index)
        self.select(take)
        self.changed.emit()

    def _compare(self) -> None:
        takes = self.selected_takes()
        if len(takes) == 2:
            self.compareRequested.emit(takes[0], takes[1])


class CompareDialog(QDialog):
    """Two takes side by side; the left player drives, the right follows frame by frame."""

    def __init__(self, parent, project: Project, left: Take, right: Take) -> None:
        super().__init__(parent)
        self.setObjectName("compareDialog")
        self.setWindowTitle(self.tr("Compare {0} and {1}").format(left.name, right.name))
        self.left = TimelinePlayer()
        self.right = TimelinePlayer()
        self.left.set_frames(project.frames(left), left.fps)
        self.right.set_frames(project.frames(right), right.fps)
        for player in (self.left, self.right):
            player.export_button.hide()
            player.strip.hide()
        # The right player follows: its own transport is not used.
        for widget in (self.right.play_button, self.right.first_button, self.right.last_button,
                       self.right.prev_button, self.right.next_button, self.right.frame_slider, self.right.fps_spin):
            widget.setEnabled(False)
        self.left.frameChanged.connect(self._follow)
        row = QHBoxLayout()
        for take, player in ((left, self.left), (right, self.right)):
            column = QVBoxLayout()
            header = QLabel()
            header.setMinimumWidth(120)
            header.setToolTip(take.request.prompt)
            text = self.tr("{0} · seed {1} · {2}").format(take.name, take.request.seed, take.request.prompt)
            header.setText(elided(text, header, 480))
            column.addWidget(header)
            column.addWidget(player, 1)
            row.addLayout(column, 1)
        self.setLayout(row)
        screen = (parent.screen() if parent is not None else None) or QGuiApplication.primaryScreen()
        area = screen.availableGeometry() if screen is not None else None
        # 1100x560, or what the screen has room for (frame included).
        self.resize(min(1100, area.width() - 16) if area else 1100, min(560, area.height() - 40) if area else 560)

    def _follow(self, index: int) -> None:
        count = self.right.frame_count
        if count:
            self.right.seek(min(index, count - 1) if count < self.left.frame_count else index % count)
