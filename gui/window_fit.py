"""Keeps a top-level window's frame (title bar and borders included) inside its screen's
available area. The frame's size is known only once a window manager has framed the window,
which happens after show() and at no fixed moment, so the fit is made again whenever the
frame's margins change (and checked for a short while after showing, since on X11 the margins
can arrive without a move or resize of the window)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

# How long after showing the frame's margins are watched for (the window manager frames the
# window within a few event-loop turns; a slow one gets this long).
WATCH_MS = 3000
WATCH_EVERY_MS = 50


def frame_margins(window: QWidget) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the frame around the window's client area; zeros where
    the platform draws none (offscreen, no window manager) or before it is known."""
    frame, client = window.frameGeometry(), window.geometry()
    return (client.left() - frame.left(), client.top() - frame.top(),
            frame.right() - client.right(), frame.bottom() - client.bottom())


def fitted(area: QRect, frame_pos: tuple[int, int], size: tuple[int, int],
           margins: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The frame's top-left and the client size that put a window of client `size`, whose
    frame starts at `frame_pos`, wholly inside `area`: smaller where it must be, moved as
    little as it can be."""
    left, top, right, bottom = margins
    width = max(1, min(size[0], area.width() - left - right))
    height = max(1, min(size[1], area.height() - top - bottom))
    outer_w, outer_h = width + left + right, height + top + bottom
    x = min(max(frame_pos[0], area.left()), area.left() + area.width() - outer_w)
    y = min(max(frame_pos[1], area.top()), area.top() + area.height() - outer_h)
    return x, y, width, height


class FrameFitter(QObject):
    """Fits `window`'s frame into its screen now, and again whenever the frame's margins
    change (the window manager framed it, or changed its decoration)."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        self.margins: tuple[int, int, int, int] | None = None
        self._watch = QTimer(self)
        self._watch.setInterval(WATCH_EVERY_MS)
        self._watch.timeout.connect(self._watch_tick)
        self._watched_ms = 0
        window.installEventFilter(self)

    def fit(self) -> None:
        window = self.window
        if window.isMaximized() or window.isFullScreen():
            return
        screen = window.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        margins = frame_margins(window)
        frame = window.frameGeometry()
        # A window's minimum size can exceed what is left: the fit then keeps it on screen at
        # its top-left and lets the rest run off, which is all that can be done.
        minimum = window.minimumSizeHint().expandedTo(window.minimumSize())
        x, y, width, height = fitted(screen.availableGeometry(), (frame.x(), frame.y()),
                                     (window.width(), window.height()), margins)
        width, height = max(width, minimum.width()), max(height, minimum.height())
        if (width, height) != (window.width(), window.height()):
            window.resize(width, height)
        if (x, y) != (frame.x(), frame.y()):
            window.move(x, y)  # move() places the frame

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        kind = event.type()
        if kind == QEvent.Type.Show:
            self._watched_ms = 0
            self._watch.start()
            self._check()
        elif kind in (QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.WindowStateChange):
            self._check()
        return False

    def _watch_tick(self) -> None:
        self._watched_ms += WATCH_EVERY_MS
        self._check()
        if self._watched_ms >= WATCH_MS or any(self.margins or ()):
            self._watch.stop()

    def _check(self) -> None:
        if not self.window.isVisible():
            return
        margins = frame_margins(self.window)
        if margins != self.margins:
            self.margins = margins
            self.fit()
