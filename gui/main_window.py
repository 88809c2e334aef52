"""The main window: input panels on the left, the player in the middle, the queue and progress
below. It turns the panels into a GenerationRequest and hands it to the controller; everything
else happens in the worker thread."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from backend.core.errors import InputError, sentence
from backend.core.request import GenerationRequest, random_seed
from backend.core.units import format_bytes
from backend.project.project_file import Project, Take
from backend.project.settings import Settings, data_dir
from gui.finish_dialog import attach_finishing
from gui.guidance_lanes import use_dropped_video
from gui.input_form import build_input_column
from gui.memory_plan_label import MemoryPlanLabel
from gui.notify import BackgroundNotifier
from gui.panels import (
    ModelsPanel,
    ParametersPanel,
    PromptPanel,
    is_demo,
    named,
)
from gui.player import TimelinePlayer
from gui.project_controller import ProjectController
from gui.queue_panel import QueuePanel
from gui.quit_sequence import QuitSequence
from gui.remote_panel import attach_remote
from gui.save_status import SaveStatus
from gui.setting_widgets import window_terms
from gui.takes_panel import CompareDialog, TakesPanel, elided
from gui.window_fit import FrameFitter
from gui.window_settings import restore_window, save_settings_file, save_window
from gui.worker import GenerationController

VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v", ".gif", ".webp")


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None, settings_path: Path | None = None,
                 controller: GenerationController | None = None) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setAccessibleName("AnimateDiff Studio")  # the product's name: not translated
        self.setWindowTitle("AnimateDiff Studio")
        self.settings_path = settings_path
        self.settings = settings if settings is not None else Settings.load(settings_path)
        self.controller = controller or GenerationController(self)
        self.last_result = None
        self.quitting = QuitSequence(self)
        self._painted = False
        self.notifier = BackgroundNotifier(self)
        self._waiting_for_demo: list[GenerationRequest] = []
        self.download_check = None  # gui/download_check.py's, while the Hub is asked
        self._job_started_at = 0.0
        self.current_request: GenerationRequest | None = None
        self.projects = ProjectController(self, self.settings)
        self.projects.project_changed.connect(self._show_project)
        self.projects.saved.connect(self._update_title)
        self.projects.saving_changed.connect(self._update_title)
        self.projects.status.connect(self.set_status)
        self.projects.error.connect(self.show_error)
        self.projects.error_cleared.connect(self.clear_error)
        # Previews go to the player only while it follows the running job: a take the user
        # picked during a job is not replaced by the job's preview.
        self._follow_job = True
        self._before_preview: tuple | None = None  # (frames, fps, request) shown before a preview

        self.models = ModelsPanel(self.demo_model_root)
        self.prompt = PromptPanel()
        self.parameters = ParametersPanel()
        self.parameters.presetChosen.connect(self._preset_chosen)
        self.player = TimelinePlayer()
        self.player.exportRequested.connect(self.export_clip)
        self.takes = TakesPanel()
        self.takes.set_project(self.project)
        self.takes.takeSelected.connect(self.show_take)
        self.takes.rerunRequested.connect(lambda take: self._run_again(self.project.rerun_request(take)))
        self.takes.varySeedRequested.connect(
            lambda take: self._run_again(self.project.rerun_request(take).replace(seed=random_seed())))
        self.takes.changed.connect(self._update_title)
        self.takes.emptied.connect(lambda: self.player.set_frames(None))
        self.takes.compareRequested.connect(self.compare_takes)

        self.generate_button = named(QPushButton(self.tr("Generate")), "generateButton", self.tr("Generate"),
                                     self._generate_tip())
        self.generate_button.setDefault(True)
        self.generate_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.generate_button.setMinimumHeight(34)
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button = named(QPushButton(self.tr("Cancel")), "cancelButton", self.tr("Cancel"),
                                   self.tr("Stop the running job within one step (Esc)"))
        self.cancel_button.setEnabled(False)
        self.cancel_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaStop))
        self.cancel_button.setMinimumHeight(34)
        self.cancel_button.clicked.connect(self.cancel)
        column, self.sections = build_input_column(self, attach_remote(self))
        for key, section in self.sections.items():
            section.set_open(key in self.settings.open_sections)
            section.toggled.connect(self._section_toggled)
        scroll = QScrollArea()
        scroll.setObjectName("inputPanels")
        scroll.setWidget(column)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # As narrow as the column allows (its forms put labels above fields when narrow), so
        # nothing is cut: there is no horizontal scrolling.
        needed = max([column.minimumSizeHint().width()]
                     + [section.body.minimumSizeHint().width() + 12 for section in self.sections.values()])
        scroll.setMinimumWidth(needed + scroll.verticalScrollBar().sizeHint().width() + 2)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.progress = QProgressBar()
        self.progress.setObjectName("progressBar")
        self.progress.setAccessibleName(self.tr("Progress"))
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(self.tr("idle"))
        self.progress.setTextVisible(True)
        self.error_banner = QLabel()
        self.error_banner.setObjectName("errorBanner")
        self.error_banner.setAccessibleName(self.tr("Error"))
        self.error_banner.setWordWrap(True)
        self.error_banner.setStyleSheet("QLabel { background: #5c1f1f; color: #ffe9e9; padding: 6px; border-radius: 4px; }")
        self.error_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_banner.hide()

        self.queue_panel = QueuePanel(self.controller)
        self.queue_list = self.queue_panel.list

        actions = QHBoxLayout()
        actions.addWidget(self.progress, 1)

        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(6, 6, 6, 6)
        center_layout.addWidget(self.player, 1)
        center_layout.addWidget(self.takes)
        center_layout.addWidget(self.error_banner)
        center_layout.addLayout(actions)
        center_layout.addWidget(MemoryPlanLabel(self.controller))
        center_layout.addWidget(self.queue_panel)

        splitter = QSplitter()
        splitter.setObjectName("mainSplitter")
        splitter.addWidget(scroll)
        splitter.addWidget(center)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([460, 820])
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)
        self.status_label = QLabel(self.tr("Starting…"))
        self.status_label.setObjectName("statusLabel")
        self.statusBar().addWidget(self.status_label, 1)
        self.save_status = SaveStatus(self.projects, self.statusBar())

        self._build_menu()
        self.set_theme(self.settings.theme)
        self.setAcceptDrops(True)
        QShortcut(QKeySequence("Ctrl+Return"), self).activated.connect(self.generate)
        QShortcut(QKeySequence("Ctrl+Enter"), self).activated.connect(self.generate)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self).activated.connect(self.cancel)

        self.models.unload_button.clicked.connect(self.controller.unload_models)
        c = self.controller
        c.ready.connect(self._on_ready)
        c.queue_changed.connect(self._update_actions)
        c.job_started.connect(self._on_job_started)
        c.job_progress.connect(self._on_job_progress)
        c.job_preview.connect(self._on_job_preview)
        c.job_finished.connect(self._on_job_finished)
        c.job_failed.connect(self._on_job_failed)
        c.unloaded.connect(self._on_unloaded)
        c.demo_model_ready.connect(self._on_demo_ready)
        c.demo_model_failed.connect(self.show_error)
        attach_finishing(self)  # the takes strip's Finish actions (gui/finish_dialog.py)

        self.frame_fitter = FrameFitter(self)
        self.fit_to_screen(1280, 800)
        self.restore_settings()
        self._update_title()
        if self.settings.read_only_reason:
            self.set_status(self.settings.read_only_reason)

    def _on_ready(self) -> None:
        """"Ready" replaces only "Starting…": what was said meanwhile (a restore) stays."""
        if self.status_label.text() == self.tr("Starting…"):
            self.set_status(self.settings.read_only_reason
                            or self.tr("Ready. Models load when you generate, and stay loaded."))

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        if not self._painted:
            # torch loads in the worker once the window is shown, not competing with its paint
            self._painted = True
            QTimer.singleShot(0, self.controller.start)
            self.models.local_scan.start()

    # -- building --------------------------------------------------------------------------

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu(self.tr("&File"))
        Icon = QStyle.StandardPixmap
        for text, shortcut, slot, icon in (
            (self.tr("&New project"), QKeySequence.StandardKey.New, self.new_project, Icon.SP_FileIcon),
            (self.tr("&Open project…"), QKeySequence.StandardKey.Open, self.open_project_dialog, Icon.SP_DialogOpenButton),
            (self.tr("&Save project"), QKeySequence.StandardKey.Save, self.save_project, Icon.SP_DialogSaveButton),
            (self.tr("Save project &as…"), QKeySequence("Ctrl+Shift+S"), self.save_project_as, None),
        ):
            action = QAction(text, self)
            if icon is not None:
                action.setIcon(self.style().standardIcon(icon))
            action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            file_menu.addAction(action)
        self.recent_menu = file_menu.addMenu(self.tr("Open &recent"))
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        export = QAction(self.tr("&Export…"), self)
        export.setShortcut(QKeySequence("Ctrl+E"))
        export.triggered.connect(self.export_clip)
        file_menu.addAction(export)
        unload = QAction(self.tr("&Unload models"), self)
        unload.triggered.connect(self.controller.unload_models)
        file_menu.addAction(unload)
        file_menu.addSeparator()
        quit_action = QAction(self.style().standardIcon(Icon.SP_DialogCloseButton), self.tr("&Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        models_menu = self.menuBar().addMenu(self.tr("&Models"))
        manage = QAction(self.tr("&Manage…"), self)
        manage.triggered.connect(self.show_models_window)
        models_menu.addAction(manage)
        generate_menu = self.menuBar().addMenu(self.tr("&Generate"))
        for text, shortcut, slot, icon in ((self.tr("&Generate"), "Ctrl+Return", self.generate, Icon.SP_MediaPlay),
                                           (self.tr("&Cancel"), "Esc", self.cancel, Icon.SP_MediaStop)):
            action = QAction(self.style().standardIcon(icon), text, self)
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # the window shortcuts handle keys
            action.triggered.connect(slot)
            generate_menu.addAction(action)
        view_menu = self.menuBar().addMenu(self.tr("&View"))
        theme_menu = view_menu.addMenu(self.tr("&Theme"))
        self.theme_actions = {}
        for name, label in (("dark", self.tr("&Dark")), ("system", self.tr("&System colours"))):
            action = QAction(label, self, checkable=True)
            action.setObjectName(f"theme{name.capitalize()}Action")
            action.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            theme_menu.addAction(action)
            self.theme_actions[name] = action
        from gui.i18n import add_language_menu

        self.language_actions = add_language_menu(self, view_menu)
        help_menu = self.menuBar().addMenu(self.tr("&Help"))
        for name, text, shortcut, slot, icon in (
            ("gettingStartedAction", self.tr("&Getting started"), "F1", self.show_getting_started, Icon.SP_DialogHelpButton),
            ("shortcutsAction", self.tr("&Keyboard shortcuts"), "", self.show_shortcuts, None),
            ("readmeAction", self.tr("&Read me"), "", self.show_readme, Icon.SP_FileDialogDetailedView),
            ("aboutAction", self.tr("&About AnimateDiff Studio"), "", self.show_about, Icon.SP_MessageBoxInformation),
        ):
            action = QAction(text, self)
            if icon is not None:
                action.setIcon(self.style().standardIcon(icon))
            action.setObjectName(name)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            help_menu.addAction(action)

    def _preset_chosen(self, name: str) -> None:
        if not self.models.apply_preset(name):
            self.set_status(self.tr("The tiny demo model keeps its own motion adapter: the preset set the steps, guidance and scheduler."))

    def _section_toggled(self, key: str, open_: bool) -> None:
        sections = [name for name in self.settings.open_sections if name != key]
        self.settings.open_sections = sections + [key] if open_ else sections

    def set_theme(self, name: str) -> None:
        from gui.theme import apply_theme

        before, self.settings.theme = self.settings.theme, apply_theme(name)
        for key, action in self.theme_actions.items():
            action.setChecked(key == self.settings.theme)
        if self.settings.theme != before:
            save_settings_file(self)  # written when changed, not only on a clean exit

    def _help(self, which: str) -> None:
        from gui.help_dialogs import open_help

        open_help(self, which)

    def show_getting_started(self) -> None:
        self._help("getting_started")

    def show_shortcuts(self) -> None:
        self._help("shortcuts")

    def show_readme(self) -> None:
        self._help("readme")

    def show_about(self) -> None:
        self._help("about")

    def fit_to_screen(self, width: int, height: int) -> None:
        """Take `width` x `height`, or less where the screen's available area is smaller; the
        frame fitter then keeps the whole frame, title bar included, inside that area."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is not None:
            area = screen.availableGeometry()
            width, height = min(width, area.width()), min(height, area.height())
        self.resize(width, height)
        self.frame_fitter.fit()

    def show_models_window(self) -> None:
        from gui.models_window import show_models_window

        show_models_window(self)

    def demo_model_root(self) -> str:
        return str(data_dir() / "demo-model")

    # -- request <-> panels ----------------------------------------------------------------

    def request_from_form(self) -> GenerationRequest:
        return self.family_form.request()  # gui/family_form.py: what applies to the model's family

    def apply_request(self, request: GenerationRequest) -> None:
        self.family_form.fill(request)

    # -- actions ---------------------------------------------------------------------------

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def show_error(self, message: str) -> None:
        message = sentence(message)
        self.error_banner.setText(message)
        self.error_banner.show()
        self.set_status(self.tr("Error: {0}").format(message.splitlines()[0]))

    def clear_error(self) -> None:
        self.error_banner.hide()
        self.error_banner.clear()

    def generate(self) -> None:
        try:
            request = self.request_from_form()
        except InputError as exc:
            self.show_error(self.tr("{0} Fix it and press Generate again.").format(sentence(str(exc))))
            return
        if not self._fits(request):
            return
        self.clear_error()
        self._follow_job = True
        remote = getattr(self.controller, "remote", None)
        if not (remote is not None and remote.active):  # workers resolve their own models
            from gui.download_check import check_before_job

            if check_before_job(self, request.model, lambda: self._submit(request)):
                return  # Hub models: asked about off the GUI thread, submitted after
        self._submit(request)

    def _submit(self, request: GenerationRequest) -> None:
        if self.parameters.random_seed.isChecked():
            self.parameters.seed.setValue(request.seed)
        self.settings.last_request = request.to_dict()
        if self.models.uses_demo_model():
            from backend.models.wan_demo_model import is_demo_set_complete

            if not is_demo_set_complete(self.demo_model_root()):
                self._waiting_for_demo.append(request)
                if len(self._waiting_for_demo) == 1:
                    self.set_status(self.tr("Building the tiny demo model (once, a few seconds)…"))
                    self.controller.build_demo_model(self.demo_model_root())
                return
        self.controller.enqueue(request)

    def _run_again(self, request: GenerationRequest) -> None:
        """Re-run or Vary seed: asked for like Generate, so the player shows the new take."""
        if not self._fits(request):
            return
        self._follow_job = True
        self.controller.enqueue(request)

    def _fits(self, request: GenerationRequest) -> bool:
        """The command line's checks before work (backend/engine/preflight.py): a job that
        cannot fit is refused with the same sentence and never started."""
        from backend.engine.preflight import check_job_fits

        try:
            check_job_fits(request)
        except InputError as exc:
            self.show_error(self.tr("{0} Fix it and press Generate again.").format(sentence(str(exc))))
            return False
        return True

    def _on_demo_ready(self, _folder: str) -> None:
        waiting, self._waiting_for_demo = self._waiting_for_demo, []
        for request in waiting:
            self.controller.enqueue(request)

    def cancel(self) -> None:
        if self.controller.busy:
            self.controller.cancel_current()
            self.set_status(self.tr("Cancelling…"))

    def _generate_tip(self) -> str:
        return self.tr("Generate with these settings (Ctrl+Enter). While a job runs, this adds to the queue.")

    def _update_actions(self) -> None:
        """Cancel and Generate follow the queue: Generate adds to it while a job runs."""
        running = self.controller.queue.running
        self.cancel_button.setEnabled(running is not None)
        waiting = len(self.controller.queue.pending)
        self.generate_button.setText(self.tr("Add to queue") if running is not None else self.tr("Generate"))
        if waiting:
            self.generate_button.setToolTip(self.tr("{0} job(s) waiting. Ctrl+Enter adds another.").format(waiting))
        else:
            self.generate_button.setToolTip(self._generate_tip())

    def _on_job_started(self, job) -> None:
        self._job_started_at = time.monotonic()
        self.clear_error()  # an old problem's message does not outlive the next try
        self.progress.setRange(0, 0)  # busy until the first step reports
        self.progress.setFormat(self.tr("starting…"))
        self.set_status(self.tr("Job {0}: starting…").format(job.id))

    def _on_job_progress(self, job, info: dict) -> None:
        phase = info["phase"]
        if phase == "loading":
            self.progress.setRange(0, 0)
            self.progress.setFormat(self.tr("loading models…"))
            self.set_status(self.tr("Loading models… (the first job after start or a model change)"))
        elif phase in ("downloading", "downloaded"):
            from gui.models_window import progress_text

            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * info["step"] / info["total"]) if info["total"] else 1000)
            self.progress.setFormat(self.tr("downloading {0}").format(progress_text(info)))
            number = min(info["files_done"] + 1, info["files_total"])
            self.set_status(self.tr("Job {0}: downloading {1} · {2} (file {3} of {4})").format(
                job.id, info["model"], info["file"], number, info["files_total"]))
        elif phase == "denoising":
            self.progress.setRange(0, max(1, info["total"]))
            self.progress.setValue(info["step"])
            eta = info.get("eta")
            if eta is not None and eta >= 1:
                step = self.tr("step {0}/{1}, about {2} s left").format(info["step"], info["total"], f"{eta:.0f}")
            else:
                step = self.tr("step {0}/{1}").format(info["step"], info["total"])
            self.progress.setFormat(step)
            self.set_status(self.tr("Job {0}: {1}").format(job.id, step))
        elif phase == "decoding":
            self.progress.setFormat(self.tr("decoding…"))
            self.set_status(self.tr("Job {0}: decoding frames…").format(job.id))

    def _on_job_preview(self, job, frames) -> None:  # uint8 [F, h, w, 3]
        if not self._follow_job:
            return
        if not self.player.is_preview:
            self._before_preview = (self.player.frames, self.player.fps, self.player.clip_request)
        self.player.set_frames(frames, job.request.fps, preview=True)
        if not self.player.playing:
            self.player.play()

    def _end_preview(self) -> None:
        """Put back what the player showed before the job's preview replaced it."""
        if self.player.is_preview:
            frames, fps, request = self._before_preview or (None, None, None)
            self.player.set_frames(frames, fps, request=request)
            self.current_request = request
        self._before_preview = None

    def _on_job_finished(self, job, result) -> None:
        self.last_result = result
        # Named here, in the user's language; the name is the take's own from then on.
        name = self.tr("Take {0}").format(len(self.project.takes) + 1)
        take = self.project.add_take(result.frames, result.request, result.duration, result.device, name, inputs=getattr(result, "inputs", None), family=getattr(result, "family", ""))
        self._update_title()
        if self._follow_job:
            self.current_request = result.request
            self._before_preview = None
            self.takes.refresh(select=take)
            self.player.set_frames(result.frames, result.request.fps, request=result.request)
            self.player.play()
        else:
            self.takes.refresh(select=self.takes.selected_takes()[0] if len(self.takes.selected_takes()) == 1 else None)
        self._idle_progress("done")
        self.clear_error()
        self.notifier.job_ended(self.tr("{0} is done: {1}").format(
            take.name, elided(result.request.prompt, self.status_label, 300)))
        self.set_status(self.tr("Job {0}: {1} done in {2} s · seed {3} · {4}").format(
            job.id, take.name, f"{result.duration:.1f}", result.request.seed, result.device))
        spec = result.request.model
        if spec.base_model:
            # The demo entry is always offered (in the user's language): not a recent model.
            for kind, field in (("base_models", self.models.base), ("motion_adapters", self.models.adapter)):
                if not is_demo(field.text()):
                    self.settings.remember(kind, field.text())
            self.models.base.set_recent(self.settings.recent_base_models)
            self.models.adapter.set_recent(self.settings.recent_motion_adapters)

    def _on_job_failed(self, job, kind: str, message: str) -> None:
        self._end_preview()
        if kind == "cancelled":
            self._idle_progress("cancelled")
            self.set_status(self.tr("Job {0}: cancelled.").format(job.id))
            return
        self._idle_progress("failed")
        message = sentence(window_terms(message))  # out of memory says itself what it freed
        if kind == "input":
            message = self.tr("{0} Fix it and press Generate again.").format(message)
        self.show_error(self.tr("Job {0} failed: {1}").format(job.id, message))
        self.notifier.job_ended(self.tr("Job {0} failed.").format(job.id))

    def _on_unloaded(self, freed: int) -> None:
        if freed:
            self.set_status(self.tr("Unloaded the models: freed {0}.").format(format_bytes(freed)))
        else:
            self.set_status(self.tr("Nothing to unload: no models are in memory."))

    def _idle_progress(self, state: str) -> None:
        """The progress bar at rest: `state` is "done", "cancelled" or "failed"."""
        texts = {"done": self.tr("done"), "cancelled": self.tr("cancelled"), "failed": self.tr("failed")}
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if state == "done" else 0)
        self.progress.setFormat(texts[state])

    def export_clip(self):
        """Open the export dialog on the clip the player shows, with the request that made it."""
        from gui.export_dialog import ExportDialog, export_name

        frames = self.player.range_frames()
        if frames is None or self.player.is_preview:
            self.set_status(self.tr("Nothing to export yet: generate a clip first."))
            return None
        request = self.player.clip_request
        takes = self.project.takes
        number = next((n for n, take in enumerate(takes, 1) if take.request is request), None)
        name = export_name(self.projects.shown_name(), number, request.seed if request else None)
        dialog = ExportDialog(self, self.player, request, self.settings, name)
        dialog.open()
        return dialog

    # -- projects --------------------------------------------------------------------------

    def show_take(self, take: Take) -> None:
        try:
            frames = self.project.frames(take)
        except InputError as exc:
            self.show_error(str(exc))
            return
        if self.controller.busy:
            self._follow_job = False  # the user looks at a take: the job's preview stays away
        self._before_preview = None
        self.current_request = take.request
        self.player.set_frames(frames, take.fps, request=take.request)
        # Its settings are shown; Random stays as the user set it (Re-run and "Use these
        # settings" are the ways to take the take's seed).
        random_seed = self.parameters.random_seed.isChecked()
        self.apply_request(take.request)
        self.parameters.random_seed.setChecked(random_seed)
        self.project.ui_state["selected_take"] = take.id
        self.set_status(self.tr("{0}: seed {1}, {2} frames, made on {3} in {4} s").format(
            take.name, take.request.seed, take.frame_count, take.device or "?", f"{take.duration:.1f}"))

    def compare_takes(self, left: Take, right: Take) -> None:
        self.compare_dialog = CompareDialog(self, self.project, left, right)
        self.compare_dialog.open()

    def _update_title(self) -> None:
        mark = "*" if self.project.dirty else ""
        saving = self.tr(" (saving…)") if self.projects.saving else ""
        self.setWindowTitle(f"{self.projects.shown_name()}{mark}{saving} — AnimateDiff Studio")

    def _show_project(self, project: Project) -> None:
        """Show a project the project controller just made current."""
        self._before_preview = None
        self.takes.set_project(project)
        self.current_request = None
        self.player.set_frames(None)
        selected = project.ui_state.get("selected_take")
        self._follow_job = not project.takes
        if project.takes:
            chosen = next((t for t in project.takes if t.id == selected), project.takes[-1])
            self.takes.select(chosen)
        self._update_title()

    # The project's lifecycle lives in self.projects (gui/project_controller.py); these keep
    # the window's own names for the menus, main.py and tests.

    @property
    def project(self) -> Project:
        return self.projects.project

    @property
    def recovery_path(self) -> Path:
        return self.projects.recovery_path

    def set_project(self, project: Project) -> None:
        self.projects.set_project(project)

    def new_project(self) -> None:
        self.projects.new_project()

    def open_project(self, path: str) -> bool:
        return self.projects.open_project(path)

    def open_project_dialog(self) -> None:
        self.projects.open_project_dialog()

    def save_project(self) -> bool:
        return self.projects.save_project()

    def save_project_as(self) -> bool:
        return self.projects.save_project_as()

    def autosave(self) -> None:
        self.projects.autosave()

    def autosave_now(self) -> None:
        self.projects.autosave_now()

    def offer_recovery(self) -> bool:
        return self.projects.offer_recovery()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_projects:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_project(p))
        if not self.settings.recent_projects:
            self.recent_menu.addAction(self.tr("(none yet)")).setEnabled(False)

    # -- drag and drop ---------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if any(Path(url.toLocalFile()).suffix.lower() in VIDEO_SUFFIXES or Path(url.toLocalFile()).is_dir()
               for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            path = url.toLocalFile()
            if Path(path).suffix.lower() in VIDEO_SUFFIXES or Path(path).is_dir():
                use_dropped_video(self, path, bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
                event.acceptProposedAction()
                return

    # -- settings and closing --------------------------------------------------------------

    def restore_settings(self) -> None:
        restore_window(self)

    def save_settings(self) -> None:
        save_window(self)

    def closeEvent(self, event) -> None:  # noqa: N802 - never blocks: gui/quit_sequence.py
        if self.quitting.close_requested():
            super().closeEvent(event)
        else:
            event.ignore()
