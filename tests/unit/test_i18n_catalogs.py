"""The message catalogs are complete, and no page shows text that is not in them.

- both catalogs have the same keys, the same parameters per key, and the plural forms their
  language needs;
- every key a template, a script or a page handler uses is in the catalogs (a dynamic key,
  `t('common.status.' ~ room.status)` or t(`chat.${code}`), needs at least one key under its
  prefix);
- every error code the API can answer with has words in the catalogs;
- no user-facing literal in web/templates/** or web/static/js/**: text nodes and the
  placeholder/title/aria-label/alt attributes of the templates, and in the scripts the strings
  given to textContent, placeholder, title, toast(), ask(), confirm() and to h() as text or as
  those attributes, and any string that reads like an English sentence. A line that must keep
  one says why with `i18n-ignore`.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from web.i18n import CATALOGS, LOCALES, SCRIPT_CATALOGS, script_keys

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "web" / "templates"
SCRIPTS = ROOT / "web" / "static" / "js"
PARAM = re.compile(r"\{(\w+)\}")


def _forms(message: object) -> list[str]:
    return list(message.values()) if isinstance(message, dict) else [str(message)]


def _params(message: object) -> set[str]:
    return {name for form in _forms(message) for name in PARAM.findall(form)}


def test_both_catalogs_have_the_same_keys() -> None:
    english, chinese = set(CATALOGS["en"]), set(CATALOGS["zh-CN"])
    assert not english - chinese, f"missing from zh-CN.json: {sorted(english - chinese)}"
    assert not chinese - english, f"missing from en.json: {sorted(chinese - english)}"


def test_every_message_has_text_and_the_same_parameters_in_both_languages() -> None:
    for key, english in CATALOGS["en"].items():
        chinese = CATALOGS["zh-CN"][key]
        assert all(form.strip() for form in _forms(english) + _forms(chinese)), key
        assert _params(english) == _params(chinese), f"{key}: parameters differ"


def test_plural_messages_have_the_forms_of_their_language() -> None:
    for locale, catalog in CATALOGS.items():
        for key, message in catalog.items():
            if isinstance(message, dict):
                needed = {"one", "other"} if locale == "en" else {"other"}
                assert needed <= set(message), f"{locale} {key}: needs {needed}"
                assert "count" in _params(message), f"{locale} {key}: a plural needs {{count}}"


def test_the_chinese_catalog_is_chinese() -> None:
    # A key copied over untranslated is the usual slip: most Chinese messages hold Han text.
    han = re.compile(r"[\u4e00-\u9fff]")
    english_word = re.compile(r"[A-Za-z]{3,}")
    untranslated = [key for key, message in CATALOGS["zh-CN"].items()
                    if not any(han.search(form) for form in _forms(message))
                    and any(english_word.search(PARAM.sub("", form)) for form in _forms(message))
                    and not key.startswith(("lang.", "comm.csv"))
                    and not key.endswith("_hint")]
    assert not untranslated, f"English text in zh-CN.json: {untranslated}"


# Keys used in the code -----------------------------------------------------------------------

TEMPLATE_KEY = re.compile(r"""\bt\(\s*(['"])([\w.-]+)\1\s*(~)?""")
TEMPLATE_KEY_CHOICE = re.compile(r"""\bt\(\s*(['"])([\w.-]+)\1\s+if\s+.+?\s+else\s+(['"])([\w.-]+)\3""")
PY_PAGE_KEY = re.compile(r"""["'](error\.\w+\.(?:title|message))["']""")


def _check_keys(used: set[str], prefixes: set[str], where: str) -> None:
    keys = set(CATALOGS["en"])
    missing = sorted(used - keys)
    assert not missing, f"keys used in {where} but not in the catalogs: {missing}"
    empty = sorted(p for p in prefixes if not any(k.startswith(p) for k in keys))
    assert not empty, f"dynamic key prefixes in {where} with no key: {empty}"


def test_every_key_the_templates_use_is_in_the_catalogs() -> None:
    used: set[str] = set()
    prefixes: set[str] = set()
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for match in TEMPLATE_KEY.finditer(text):
            (prefixes if match.group(3) else used).add(match.group(2))
        for match in TEMPLATE_KEY_CHOICE.finditer(text):
            used.update({match.group(2), match.group(4)})
    assert len(used) > 200, "the scan found too few keys: its pattern is broken"
    _check_keys(used, prefixes, "web/templates")


def test_every_key_the_scripts_use_is_in_the_catalogs() -> None:
    used, prefixes = script_keys()
    assert len(used) > 200, "the scan found too few keys: its pattern is broken"
    _check_keys(used, prefixes, "web/static/js")


def test_the_pages_embed_exactly_what_the_scripts_use() -> None:
    used, prefixes = script_keys()
    for locale in LOCALES:
        embedded = set(SCRIPT_CATALOGS[locale])
        assert used <= embedded
        assert all(any(key.startswith(p) for key in embedded) for p in prefixes)
        # and not the templates' words, which the server has already put in the page
        assert "home.hero_text" not in embedded and "report.funnel_label" not in embedded


def test_the_script_key_scan_reads_every_form(tmp_path: Path) -> None:
    (tmp_path / "sample.js").write_text(
        '// t("in.a.comment")\n'
        'el.textContent = t("plain.key", {n});\n'
        'if (has("checked.key")) x();\n'
        'label = t(on ? "choice.on" : "choice.off");\n'
        'text = t(`dynamic.prefix.${state}`);\n')
    assert script_keys(tmp_path) == ({"plain.key", "checked.key", "choice.on", "choice.off"},
                                     {"dynamic.prefix."})


def test_every_key_the_page_handlers_use_is_in_the_catalogs() -> None:
    used = {match.group(1) for path in (ROOT / "web").glob("*.py")
            for match in PY_PAGE_KEY.finditer(path.read_text())}
    assert {"error.no_room.title", "error.page_not_found.message"} <= used
    _check_keys(used, set(), "web/*.py")


def test_every_api_error_code_has_words() -> None:
    # The API answers in English with a stable code; the pages show the code's message.
    # `code="sold_out"` in a domain error, `_error_body(request, 503, "service_unavailable"`
    # at the web edge, `ChatRefused("slow_mode", …)` in the hub.
    code = re.compile(r"""\bcode\s*=\s*["']([a-z_]+)["']|_error_body\(request, \d+, "([a-z_]+)"|"""
                      r'ChatRefused\("([a-z_]+)"')
    codes = {next(group for group in match.groups() if group)
             for package in ("core", "live", "orders", "realtime", "analytics", "sharing", "web")
             for path in (ROOT / package).rglob("*.py")
             for match in code.finditer(path.read_text())}
    assert {"sold_out", "email_taken", "rate_limited", "service_unavailable", "slow_mode"} <= codes
    missing = sorted(c for c in codes if f"errors.{c}" not in CATALOGS["en"])
    assert not missing, f"error codes without words in the catalogs: {missing}"


def _without_comments(source: str) -> str:
    return "\n".join(re.sub(r"^\s*(//|\*|/\*\*).*$", "", line) for line in source.splitlines())


# Literals -------------------------------------------------------------------------------------

# Text nodes that are no words: symbols, and the brand.
NOT_WORDS = re.compile(r"^[\s\W\d_]*(livesell[\s\W\d_]*)*$")
TEXT_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")
# Jinja's expressions, tags and comments, and the blocks that hold class names, not text.
JINJA = re.compile(r"\{%\s*block\s+\w+_class\s*%\}.*?\{%\s*endblock\s*%\}|"
                   r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


class _TemplateText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        for name, value in attrs:
            if name in TEXT_ATTRIBUTES and value and not NOT_WORDS.match(value):
                self.found.append(f'{name}="{value}"')

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)

    def handle_data(self, data: str) -> None:
        if not self.skip and data.strip() and not NOT_WORDS.match(data.strip()):
            self.found.append(data.strip())


def template_literals(source: str) -> list[str]:
    """User-facing text left in a template (Jinja expressions and tags taken out first)."""
    parser = _TemplateText()
    parser.feed(JINJA.sub(" ", source))
    parser.close()
    return parser.found


# A string literal of a script: "…", '…' or `…` (a template's ${…} taken for no words).
JS_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`(?:[^`\\]|\\.)*`')
TEXT_SINKS = re.compile(
    r"""(?:\.textContent\s*=|\.innerText\s*=|\.placeholder\s*=|\.title\s*=|\btoast\(|"""
    r"""\bconfirm\(|\balert\(|\btitle:\s*|\btext:\s*|\byes:\s*|\bno:\s*|"""
    r"""["'](?:aria-label|title|placeholder|alt)["']\s*[:,]\s*)\s*$""")
# Reads like an English sentence or label: a capitalised word then a space or punctuation, or
# two words.
SENTENCE = re.compile(r"^[A-Z][a-z']+(?:[ ,.!?…:]|$)|[A-Za-z]{2,} [A-Za-z]{2,}")


# Strings that are code, not text: compared, thrown, logged or class names.
NOT_TEXT_BEFORE = re.compile(r"(?:[!=]==?|\bcase|Error\(|console\.\w+\(|class:|className\s*=|"
                             r"classList\.\w+\()\s*$")
CLASS_NAMES = re.compile(r"^[a-z0-9_-]+(?: [a-z0-9_-]+)*$")


def _words(literal: str) -> str:
    body = literal[1:-1]
    body = re.sub(r"\$\{[^}]*\}", "", body) if literal.startswith("`") else body
    return body.replace("livesell", "")


def _is_text(literal: str, before: str) -> bool:
    words = _words(literal)
    if not re.search(r"[A-Za-z]{2,}", words) or NOT_TEXT_BEFORE.search(before):
        return False
    if words.lstrip().startswith(("#", ".", "[", "/")):  # a selector or a path
        return False
    # "btn btn-primary", "tag tag-host": class names, hyphenated.
    return not (CLASS_NAMES.match(words.strip()) and "-" in words)


def _h_text_arguments(source: str) -> list[str]:
    """The string literals given to h(tag, attrs, ...children) as children."""
    found = []
    for start in (m.end() for m in re.finditer(r"\bh\(", source)):
        depth, index, args, current = 1, start, [], ""
        while index < len(source) and depth:
            char = source[index]
            string = JS_STRING.match(source, index) if char in "\"'`" else None
            if string:
                current += string.group(0)
                index = string.end()
                continue
            if char in "([{":
                depth += 1
            elif char in ")]}":
                depth -= 1
            if depth == 1 and char == ",":
                args.append(current.strip())
                current = ""
            elif depth:
                current += char
            index += 1
        args.append(current.strip())
        found += [arg for arg in args[2:] if JS_STRING.fullmatch(arg)]
    return found


def script_literals(source: str) -> list[str]:
    """User-facing text left in a script."""
    found = []
    code = _without_comments("\n".join(line for line in source.splitlines()
                                       if "i18n-ignore" not in line))
    for match in JS_STRING.finditer(code):
        before = code[max(0, match.start() - 60):match.start()]
        if not _is_text(match.group(0), before):
            continue
        if SENTENCE.search(_words(match.group(0))) or TEXT_SINKS.search(before):
            found.append(match.group(0))
    found += [arg for arg in _h_text_arguments(code) if _is_text(arg, "")]
    return list(dict.fromkeys(found))


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")),
                         ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_user_facing_literal_in_a_template(path: Path) -> None:
    assert template_literals(path.read_text()) == []


@pytest.mark.parametrize("path", sorted(SCRIPTS.glob("*.js")), ids=lambda p: p.name)
def test_no_user_facing_literal_in_a_script(path: Path) -> None:
    assert script_literals(path.read_text()) == []


def test_the_scans_catch_new_literals() -> None:
    # given a template and a script as another engineer might add them
    template = ('<h1>Your orders</h1><input placeholder="Search orders">'
                '<p>{{ t("x") }}</p><span aria-label="Close">&times;</span>')
    script = ('node.textContent = "Order paid";\n'
              'toast(`Refund of ${amount} requested`, "success");\n'
              'h("button", {class: "btn"}, "Pay again");\n'
              'h("span", {title: "Copy the link"}, t("ok"));\n'
              'const kind = "pending_payment"; el.dataset.state = "open";\n'
              'const label = count > 1 ? "items" : "item";  // i18n-ignore: a test of the mark\n')
    # then each literal is caught, and nothing else
    assert template_literals(template) == ["Your orders", 'placeholder="Search orders"',
                                           'aria-label="Close"']
    assert sorted(script_literals(script)) == sorted(
        ['"Order paid"', '`Refund of ${amount} requested`', '"Pay again"', '"Copy the link"'])


def test_locales_are_the_two_catalogs() -> None:
    assert set(LOCALES) == {"zh-CN", "en"} == set(CATALOGS)
