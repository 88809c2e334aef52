"""The window's language: English is the source of every text; a Simplified Chinese catalogue
(resources/translations, made by scripts/update_translations.py) is installed when the settings
or the system locale ask for it, with Qt's own catalogue for its standard dialogs.

To translate a text: `self.tr("Frame {0} of {1}").format(a, b)` in a QObject subclass, or
`translate("Context", "text")` anywhere else (lupdate reads both; never an f-string). Texts kept in
module-level tables are marked with `QT_TRANSLATE_NOOP("Context", "text")` and passed through
`translate("Context", value)` where they are shown.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from backend.core.paths import resource
from backend.project.settings import LANGUAGES

CATALOGUE = "animatediff_studio"
TRANSLATIONS = resource("translations")
# What each choice is called in the View › Language menu: in its own language, so that someone
# who cannot read the current one still finds theirs.
LANGUAGE_NAMES = {"en": "English", "zh_CN": "简体中文"}

translate = QCoreApplication.translate
_installed: list[QTranslator] = []  # kept alive: Qt does not own installed translators
applied = "en"  # the language installed at start-up
_default_locale = QLocale()  # the locale before a catalogue changed it


def system_language(locale: QLocale | None = None) -> str:
    """The catalogue for a locale (the system's by default): Chinese in any script or region
    gets Simplified Chinese, everything else English."""
    locale = locale or QLocale.system()
    languages = locale.uiLanguages() or [locale.name()]
    first = languages[0].replace("-", "_")
    return "zh_CN" if first.split("_")[0] == "zh" else "en"


def resolve(setting: str, locale: QLocale | None = None) -> str:
    """The language a setting means: "en" or "zh_CN"; "system" and unknown values follow the
    locale."""
    if setting in LANGUAGES and setting != "system":
        return setting
    return system_language(locale)


def catalogue_path(language: str) -> Path:
    return TRANSLATIONS / f"{CATALOGUE}_{language}.qm"


def install(setting: str = "system", app: QCoreApplication | None = None,
            locale: QLocale | None = None) -> str:
    """Install the translators for `setting` (replacing any installed before) and return the
    language now in use. A missing catalogue leaves the window in English."""
    global applied
    app = app or QCoreApplication.instance()
    for translator in _installed:
        app.removeTranslator(translator)
    _installed.clear()
    QLocale.setDefault(_default_locale)
    applied = "en"
    language = resolve(setting, locale)
    ours = QTranslator(app)
    if language == "en" or not ours.load(str(catalogue_path(language))):
        return applied
    qt_dir = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    qt = QTranslator(app)
    for translator in (ours, qt if qt.load(f"qtbase_{language}", qt_dir) else None):
        if translator is not None:
            app.installTranslator(translator)
            _installed.append(translator)
    QLocale.setDefault(QLocale(language))  # numbers and dates in the same language
    applied = language
    return applied


def add_language_menu(window, menu) -> dict:
    """View › Language: System, English, 简体中文, remembered in `window.settings`; the choice
    applies at the next start (said in the status bar). Returns the actions by setting."""
    from PySide6.QtGui import QAction, QActionGroup

    submenu = menu.addMenu(translate("LanguageMenu", "&Language"))
    submenu.setObjectName("languageMenu")
    group = QActionGroup(submenu)
    actions = {}
    for setting in LANGUAGES:
        label = LANGUAGE_NAMES.get(setting) or translate("LanguageMenu", "&System language")
        action = QAction(label, window, checkable=True)
        action.setObjectName(f"language{setting.replace('_', '').capitalize()}Action")
        action.setChecked(setting == window.settings.language)
        action.triggered.connect(lambda _=False, s=setting: choose_language(window, s))
        group.addAction(action)
        submenu.addAction(action)
        actions[setting] = action
    return actions


def choose_language(window, setting: str) -> str:
    """Remember `setting` and say what happens; returns the message shown."""
    settings = window.settings
    settings.language = setting if setting in LANGUAGES else "system"
    try:
        settings.save(getattr(window, "settings_path", None))
    except OSError:
        pass  # saved again when the window closes
    language = resolve(settings.language)
    name = LANGUAGE_NAMES[language]
    if language == applied:
        message = translate("LanguageMenu", "The window stays in {0}.").format(name)
    else:
        message = translate(
            "LanguageMenu",
            "The window will be in {0} the next time you start AnimateDiff Studio.",
        ).format(name)
    window.set_status(message)
    return message
