"""Which text of the core message a recipient (or a post) gets, and localized fixed wording."""

from __future__ import annotations

from dataclasses import dataclass

from brandcast.v1 import campaign_pb2

DEFAULT_LOCALE = "en"

# Every wording here is GSM-7 only, so it never forces an SMS into UCS-2.
OPT_OUT_TEXT = {
    "en": "Reply STOP to opt out",
    "fr": "Répondez STOP pour vous désabonner",
    "de": "Antworten Sie STOP zum Abbestellen",
    "es": "Responde STOP para darte de baja",
    "it": "Rispondi STOP per annullare",
    "pt": "Responda STOP para cancelar",
    "nl": "Antwoord STOP om af te melden",
}

UNSUBSCRIBE_LABEL = {
    "en": "Unsubscribe",
    "fr": "Se désabonner",
    "de": "Abbestellen",
    "es": "Darse de baja",
    "it": "Annulla iscrizione",
    "pt": "Cancelar inscrição",
    "nl": "Afmelden",
}


@dataclass(frozen=True)
class LocalizedContent:
    """The core message's text in one locale (translation fields fall back to the default)."""

    locale: str
    headline: str
    body: str
    cta_text: str


def normalize_locale(tag: str) -> str:
    return tag.strip().replace("_", "-").lower()


def language(tag: str) -> str:
    return normalize_locale(tag).split("-", 1)[0]


class ContentResolver:
    """Picks a translation: exact locale, then language only (fr-CA -> fr), else the default."""

    def __init__(self, core: campaign_pb2.CoreMessage, default_locale: str) -> None:
        self.default = LocalizedContent(
            locale=default_locale or DEFAULT_LOCALE,
            headline=core.headline,
            body=core.body,
            cta_text=core.cta_text,
        )
        self._by_tag: dict[str, LocalizedContent] = {}
        for tag, content in sorted(core.translations.items()):
            self._by_tag[normalize_locale(tag)] = LocalizedContent(
                locale=tag,
                headline=content.headline or core.headline,
                body=content.body or core.body,
                cta_text=content.cta_text or core.cta_text,
            )
        self._cache: dict[str, LocalizedContent] = {}

    def all(self) -> list[LocalizedContent]:
        return [self.default, *self._by_tag.values()]

    def for_locale(self, tag: str) -> LocalizedContent:
        found = self._cache.get(tag)
        if found is None:
            found = self._resolve(tag)
            self._cache[tag] = found
        return found

    def _resolve(self, tag: str) -> LocalizedContent:
        wanted = normalize_locale(tag)
        if not wanted:
            return self.default
        exact = self._by_tag.get(wanted)
        if exact is not None:
            return exact
        by_language = self._by_tag.get(language(wanted))
        if by_language is not None:
            return by_language
        return self.default


def opt_out_text(locale: str, override: str) -> str:
    return override or OPT_OUT_TEXT.get(language(locale), OPT_OUT_TEXT["en"])


def unsubscribe_label(locale: str) -> str:
    return UNSUBSCRIBE_LABEL.get(language(locale), UNSUBSCRIBE_LABEL["en"])
