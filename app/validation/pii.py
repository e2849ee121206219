"""Personal data in property values: detect, mask, and turn findings into violations.

Pure. Detected kinds: e-mail addresses, phone numbers (E.164 `+…` or a formatted national
number, never a bare digit run), payment card numbers (13-19 digits, known prefix, Luhn),
IPv4/IPv6 addresses (checked by `ipaddress`), IBANs (country length, mod 97) and US social
security numbers (ddd-dd-dddd), each found anywhere inside a string. docs/pii.md lists what is
not taken for them (order ids, timestamps, versions, UUIDs, prices, hashes) and why.

A plan marks a property allowed with `"pii": true` on its schema (everything below it too);
`allowed_tree` turns a schema into the paths it allows once, when the plan is compiled.
"""

from __future__ import annotations

import bisect
import copy
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .schema_walk import LIST_KEYWORDS, resolve_ref
from .verdict import INVALID, VALID, Verdict
from .violations import escape_segment

RULE = "pii"
EXPECTED = "no personal data"
POLICIES = ("warn", "fail", "off")
DEFAULT_POLICY = "warn"
KINDS = ("email", "phone", "card", "ip", "iban", "ssn")
KIND_NAMES = {
    "email": "an e-mail address",
    "phone": "a phone number",
    "card": "a payment card number",
    "ip": "an IP address",
    "iban": "an IBAN",
    "ssn": "a US social security number",
}
DOT = "•"
# Bounds per event, so a large event costs a bounded scan: strings looked at, characters of
# them read (a longer string is scanned in its first MAX_CHARS), findings listed.
MAX_STRINGS = 200
MAX_CHARS = 4 * 1024
MAX_FINDINGS = 20
# The kind of the one violation that stands for the findings past MAX_FINDINGS: every value found
# is still masked (pages then mask whatever looks like personal data in the whole payload).
MORE = "more"


def _ascii(pattern: str) -> re.Pattern[str]:
    """A pattern whose \\d and \\w are ASCII: "٤٢" or "²" are no digits of a card or phone."""
    return re.compile(pattern, re.ASCII)


# Cheap looks per string say which detectors could match at all (what every match of a
# family contains): "@" (e-mail); eight digits close together (card, SSN, phone, IBAN, and
# an IPv4 address read as digits); a dotted quad (IPv4); "::" or seven colons (IPv6). Most
# strings stop there; simple patterns, as Python's engine is slow on alternations.
_DIGITS = _ascii(r"\d(?:[ ().\-/]{0,2}\d){7}")
_QUAD = _ascii(r"\d\.\d{1,3}\.\d{1,3}\.\d")
# Digits and dots only (versions, build numbers, addresses): only an IPv4 address is possible.
_DOTTED = _ascii(r"\d+(?:\.\d+)+")
# Whole values of the common shapes that hold no personal data, let through at once: ISO
# dates and times, UUIDs, hex digests.
_SAFE = _ascii(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+\-]\d{2}(?::?\d{2})?)?)?"
    r"|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|[0-9a-f]{32,128}|[0-9A-F]{32,128}"
)
# The shortest value any detector matches ("a@b.cd").
_MIN_CHARS = 6

# Bounded quantifiers keep every pattern's backtracking small on hostile input.
_EMAIL = _ascii(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@(?:[A-Za-z0-9\-]{1,63}\.){1,8}"
    r"[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
_IBAN = _ascii(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,32}(?![A-Za-z0-9])")
_CARD = _ascii(r"(?<![\w\-.,/+])\d(?:[ \-]?\d){12,18}(?![\w\-/]|[.,]\d)")
_SSN = _ascii(r"(?<![\w\-./])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w\-/]|\.\d)")
_PHONE_INTL = _ascii(r"(?<![\w+])\+\d[\d \-.()]{6,22}\d(?![\w\-]|\.\d)")
_PHONE_NATIONAL = _ascii(
    r"(?<![\w\-./:+])(?:\(\d{2,5}\) ?\d{3,4}[ \-.]?\d{3,5}"  # (555) 123-4567, (030) 1234 567
    r"|\d{3}[\-.]\d{3}[\-.]\d{4}"  # 555-123-4567
    r"|0\d{2,4}[ \-/]\d{3,8}(?:[ \-]\d{2,6})?)"  # 030 1234567, 020 7946 0958
    r"(?![\w\-/:]|\.\d)"
)
_IPV4 = _ascii(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
_IPV6 = _ascii(r"(?<![\w:.])[0-9A-Fa-f:]{2,39}(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?![\w:]|\.\d)")
# The domain of an image named at a scale (icon@2x.png, logo@1.5x.jpg): no e-mail address.
_SCALED_ASSET = _ascii(r"\d(?:\.\d)?x\.[A-Za-z]{2,5}$")
# A property named so holds versions: "1.2.3.4" there is a build number, not an address.
_VERSION_KEY = _ascii(r"(?i)version|build|release|(?:^|[_\-.])ver(?:$|[_\-.])")

# Card prefixes (issuer ranges): Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
# Maestro. A digit run with none of them (an id, an epoch in ms) is never a card.
_CARD_PREFIX = _ascii(
    r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6(?:011|4[4-9]|5|2)"
    r"|35(?:2[89]|[3-8]\d)|3(?:0[0-5]|[68])|5[06-9]"
)
# IBAN lengths by country (the SWIFT IBAN registry).
_IBAN_LENGTHS = {
    **dict.fromkeys(["NO"], 15),
    **dict.fromkeys(["BE"], 16),
    **dict.fromkeys(["DK", "FI", "FO", "GL", "NL"], 18),
    **dict.fromkeys(["MK", "SI"], 19),
    **dict.fromkeys(["AT", "BA", "EE", "KZ", "LT", "LU", "XK"], 20),
    **dict.fromkeys(["CH", "HR", "LI", "LV"], 21),
    **dict.fromkeys(["BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA"], 22),
    **dict.fromkeys(["AE", "GI", "IL", "IQ", "TL"], 23),
    **dict.fromkeys(["AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG"], 24),
    **dict.fromkeys(["PT", "ST"], 25),
    **dict.fromkeys(["IS", "TR"], 26),
    **dict.fromkeys(["FR", "GR", "IT", "MC", "MR", "SM"], 27),
    **dict.fromkeys(["AL", "AZ", "BY", "CY", "DO", "GT", "HU", "LB", "PL", "SV"], 28),
    **dict.fromkeys(["BR", "EG", "PS", "QA", "UA"], 29),
    **dict.fromkeys(["JO", "KW", "MU"], 30),
    **dict.fromkeys(["MT", "SC"], 31),
    **dict.fromkeys(["LC"], 32),
}


@dataclass(frozen=True, slots=True)
class Match:
    """One piece of personal data inside a string: where, what kind, and its mask."""

    kind: str
    start: int
    end: int
    raw: str
    mask: str


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(compact: str) -> bool:
    """Whether an IBAN without spaces has its country's length and passes mod 97."""
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _mask_email(raw: str) -> str:
    local, _, domain = raw.partition("@")
    labels = domain.split(".")
    return f"{local[0]}{DOT * 3}@{labels[0][0]}{DOT * 3}.{labels[-1]}"


def _mask_digits(raw: str, keep: int, prefix: str = "") -> str:
    digits = [ch for ch in raw if ch.isdigit()]
    return prefix + DOT * (len(digits) - keep) + "".join(digits[-keep:])


def _mask_card(raw: str) -> str:
    return f"{DOT * 4} {''.join(ch for ch in raw if ch.isdigit())[-4:]}"


def _mask_ip(raw: str) -> str:
    if ":" in raw:
        return f"{raw.split(':', 1)[0] or ''}:{DOT}:{DOT}:{DOT}"
    return f"{raw.split('.', 1)[0]}.{DOT}.{DOT}.{DOT}"


def _mask_iban(raw: str) -> str:
    compact = raw.replace(" ", "")
    return f"{compact[:2]}{DOT * 2}…{DOT * 2}{compact[-2:]}"


def _mask_ssn(raw: str) -> str:
    return f"{DOT * 3}-{DOT * 2}-{DOT * 2}{raw[-2:]}"


def _emails(text: str, key: str | None) -> Iterator[Match]:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        if _SCALED_ASSET.match(m.group(), m.group().index("@") + 1):
            continue  # icon@2x.png: an image at twice the scale, as mobile apps name them
        yield Match("email", m.start(), m.end(), m.group(), _mask_email(m.group()))


def _ibans(text: str, key: str | None) -> Iterator[Match]:
    for m in _IBAN.finditer(text):
        # The pattern may run on into a following word: try the country's own length.
        length = _IBAN_LENGTHS.get(m.group()[:2])
        if length is None:
            continue
        seen = 0
        for end, ch in enumerate(m.group(), 1):
            seen += ch != " "
            if seen == length:
                raw = m.group()[:end]
                if iban_ok(raw.replace(" ", "")):
                    yield Match("iban", m.start(), m.start() + end, raw, _mask_iban(raw))
                break


def _cards(text: str, key: str | None) -> Iterator[Match]:
    for m in _CARD.finditer(text):
        raw = m.group()
        digits = raw.replace(" ", "").replace("-", "")
        if _CARD_PREFIX.match(digits) and luhn_ok(digits):
            yield Match("card", m.start(), m.end(), raw, _mask_card(raw))


def _ssns(text: str, key: str | None) -> Iterator[Match]:
    if "-" not in text:
        return
    for m in _SSN.finditer(text):
        yield Match("ssn", m.start(), m.end(), m.group(), _mask_ssn(m.group()))


def _phones(text: str, key: str | None) -> Iterator[Match]:
    for m in _PHONE_INTL.finditer(text) if "+" in text else ():
        raw = m.group()
        if 8 <= sum(ch.isdigit() for ch in raw) <= 15:
            yield Match("phone", m.start(), m.end(), raw, _mask_digits(raw, 2, "+"))
    for m in _PHONE_NATIONAL.finditer(text):
        raw = m.group()
        if 9 <= sum(ch.isdigit() for ch in raw) <= 14:
            yield Match("phone", m.start(), m.end(), raw, _mask_digits(raw, 2))


def _ips(text: str, key: str | None) -> Iterator[Match]:
    if "." in text and not (key and _VERSION_KEY.search(key)):
        for m in _IPV4.finditer(text):
            try:
                address = ipaddress.IPv4Address(m.group())
            except ValueError:
                continue
            if not address.is_unspecified:
                yield Match("ip", m.start(), m.end(), m.group(), _mask_ip(m.group()))
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            try:
                v6 = ipaddress.IPv6Address(m.group())
            except ValueError:
                continue
            groups = [g for g in m.group().split(":") if g]
            # "a::b" in text (Foo::Bar is not hex, but short words can be) is not taken for
            # an address: a real one has a four-digit group or four groups.
            if v6.is_unspecified or v6.is_loopback:
                continue
            if len(groups) >= 4 or any(len(g) == 4 for g in groups):
                yield Match("ip", m.start(), m.end(), m.group(), _mask_ip(m.group()))


# Detectors run in this order, a later one's match overlapping an earlier one dropped (an
# IBAN's digits are not also a card, an e-mail's digits not a phone): e-mail, IBAN, card, SSN,
# phone, IP (find).


def find(text: str, key: str | None = None) -> list[Match]:
    """The personal data inside `text` (its first MAX_CHARS characters), sorted by start;
    `key` is the name of the property holding it (a version's "1.2.3.4" is no address)."""
    if len(text) < _MIN_CHARS:
        return []
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    if _DOTTED.fullmatch(text):
        return list(_ips(text, key))
    detectors = []
    if "@" in text:
        detectors.append(_emails)
    if _DIGITS.search(text):
        detectors += (_ibans, _cards, _ssns, _phones, _ips)
    elif ("." in text and _QUAD.search(text)) or "::" in text or text.count(":") >= 7:
        detectors.append(_ips)
    if not detectors or _SAFE.fullmatch(text):
        return []
    # Kept sorted by start, so each match is checked against its two neighbours only (a long
    # text may hold hundreds of matches).
    found: list[Match] = []
    starts: list[int] = []
    for detector in detectors:
        for match in detector(text, key):
            at = bisect.bisect_left(starts, match.start)
            if at and found[at - 1].end > match.start:
                continue
            if at < len(found) and found[at].start < match.end:
                continue
            found.insert(at, match)
            starts.insert(at, match.start)
    return found


def mask_matches(text: str, matches: list[Match]) -> str:
    """`text` with each of `matches` (sorted, from `find`) replaced by its mask."""
    parts, last = [], 0
    for m in matches:
        parts.append(text[last : m.start])
        parts.append(m.mask)
        last = m.end
    parts.append(text[last:])
    return "".join(parts)


def mask_text(text: str, key: str | None = None) -> str:
    """`text` with every piece of personal data in it masked."""
    return mask_matches(text, find(text, key))


def _number_matches(value: int) -> list[Match]:
    """A card number sent as a JSON number (phones need formatting, so only cards)."""
    text = str(abs(value))
    if not 13 <= len(text) <= 19:
        return []
    shift = 1 if value < 0 else 0  # the matches are of str(value), its "-" included
    return [
        Match(m.kind, m.start + shift, m.end + shift, m.raw, m.mask) for m in _cards(text, None)
    ]


# ---- which paths a plan allows -------------------------------------------------------------

ANY = ("*",)  # a key of the allowed tree standing for any property name or array index
ALLOWED = ("pii",)  # marks a node of the allowed tree: personal data allowed from here down
_MAX_REF_DEPTH = 32


def allowed_tree(schema: Any) -> dict:
    """The paths below which `schema` allows personal data, as a tree of property names
    (ANY for array items and unnamed properties); {} when it allows none."""
    tree: dict = {}
    _walk_allowed(schema, schema, tree, 0)
    return tree


def _walk_allowed(root: Any, node: Any, tree: dict, depth: int) -> None:
    if not isinstance(node, dict) or depth > _MAX_REF_DEPTH or ALLOWED in tree:
        return
    if node.get("pii") is True:
        tree.clear()
        tree[ALLOWED] = True
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        _walk_allowed(root, resolve_ref(root, ref), tree, depth + 1)
    for name, sub in (node.get("properties") or {}).items():
        _child(root, sub, tree, name, depth)
    for keyword in ("patternProperties",):
        for sub in (node.get(keyword) or {}).values():
            _child(root, sub, tree, ANY, depth)
    for keyword in ("additionalProperties", "items", "additionalItems", "contains"):
        sub = node.get(keyword)
        for one in sub if isinstance(sub, list) else [sub]:
            _child(root, one, tree, ANY, depth)
    for keyword in (*LIST_KEYWORDS, "if", "then", "else"):
        sub = node.get(keyword)
        for one in sub if isinstance(sub, list) else [sub]:
            if keyword == "prefixItems":
                _child(root, one, tree, ANY, depth)
            else:
                _walk_allowed(root, one, tree, depth + 1)


def _child(root: Any, sub: Any, tree: dict, key: Any, depth: int) -> None:
    if not isinstance(sub, dict):
        return
    branch = tree.get(key, {})
    _walk_allowed(root, sub, branch, depth + 1)
    if branch:
        tree[key] = branch


# ---- scanning an event ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """Personal data in one value: its JSON pointer, the property name, what was found."""

    path: str
    key: str
    value: str
    matches: list[Match]


# What every match of every detector contains: a looser look than each detector's, so the
# screen never misses what `find` finds (tests/validation/test_pii.py checks that on random
# text). Most strings of an event (dates, ids, words, prices) are cleared by the cheap parts:
# literals, a count of digits, the safe shapes; Python's regex engine is slow on alternations
# tried at every character, so the one pattern left runs only on digit-heavy strings.
_NO_DIGITS = str.maketrans("", "", "0123456789")
_IBAN_SCREEN = _ascii(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){4}")
_CARD_SCREEN = _ascii(r"\d(?:[ \-]?\d){12}")
_NUMBER_SCREENS = (
    _ascii(r"\d{3}-\d{2}-\d{4}"),  # SSN
    _ascii(r"\(\d{2,5}\)"),  # national phones: (555) 123-4567
    _ascii(r"\d{3}[\-.]\d{3}[\-.]\d{4}"),  # 555-123-4567
    _ascii(r"(?<!\w)0\d{2,4}[ \-/]\d{3}"),  # 030 1234567
)


def screened(text: str) -> bool:
    """Whether `text` may hold anything `find` finds (False: it certainly does not)."""
    if "@" in text or "+" in text or "::" in text or text.count(":") >= 7:
        return True  # e-mail, international phone, IPv6
    digits = len(text) - len(text.translate(_NO_DIGITS))
    # Every other kind has digits: an IBAN two check digits and more, an IPv4 address four.
    if digits < 2 or _SAFE.fullmatch(text):
        return False  # find lets the safe shapes through whole (dates, UUIDs, digests)
    if _IBAN_SCREEN.search(text):
        return True
    if digits >= 4 and "." in text and _QUAD.search(text):
        return True  # IPv4
    if digits >= 13 and _CARD_SCREEN.search(text):
        return True
    # SSNs and national phones have 9 digits or more (find counts them the same way).
    return digits >= 9 and any(screen.search(text) for screen in _NUMBER_SCREENS)


def _candidates(subject: Any, allowed: dict) -> bool:
    """Whether any value of `subject` may hold personal data: a string (long enough) passes
    the screen, or an integer is long enough to be a card. Top-level properties the plan
    allows are left out (deeper ones are looked at by the scan itself)."""
    if type(subject) is dict and allowed:
        stack = [v for k, v in subject.items() if ALLOWED not in allowed.get(k, ())]
    else:
        stack = [subject]
    strings, chars = MAX_STRINGS, MAX_CHARS  # the scan's own budget (scan)
    while stack and strings > 0 and chars > 0:
        value = stack.pop()
        kind = type(value)
        if kind is str:
            if len(value) >= _MIN_CHARS:
                strings -= 1
                chars -= len(value)
                if screened(value[:MAX_CHARS]):
                    return True
        elif kind is dict:
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        elif kind is int and not -(10**12) < value < 10**12:
            return True
    return False


def scan(subject: Any, root: str, allowed: dict) -> list[Finding]:
    """The values of `subject` (the properties judged at pointer `root`) holding personal
    data outside the paths `allowed` permits, all of them within the budget (bounded work)."""
    if not _candidates(subject, allowed):
        return []
    findings: list[Finding] = []
    strings, chars = MAX_STRINGS, MAX_CHARS
    # (value, its name in its parent, the parent's entry, the property name it is under,
    # allowed-tree nodes that still apply); pointers are written only for findings.
    stack: list[tuple] = [
        (subject, None, None, root.rsplit("/", 1)[-1], (allowed,) * bool(allowed))
    ]
    while stack:
        entry = stack.pop()
        value = entry[0]
        if isinstance(value, str):
            if len(value) < _MIN_CHARS:
                continue
            strings -= 1
            chars -= len(value)
            matches = find(value, entry[3])
            if matches:
                findings.append(Finding(_pointer(root, entry), entry[3], value, matches))
        elif isinstance(value, dict):
            nodes = entry[4]
            for name, sub in value.items():
                if _skipped(sub):
                    continue
                below = _below(nodes, name) if nodes else nodes
                if below is not None:
                    stack.append((sub, name, entry, name, below))
        elif isinstance(value, list):
            below = _below(entry[4], ANY) if entry[4] else entry[4]
            if below is not None:
                key = entry[3]
                stack.extend(
                    (sub, i, entry, key, below) for i, sub in enumerate(value) if not _skipped(sub)
                )
        elif isinstance(value, int):  # a big one (_skipped); counted like a string
            strings -= 1
            matches = _number_matches(value)
            if matches:
                findings.append(Finding(_pointer(root, entry), entry[3], str(value), matches))
        if strings <= 0 or chars <= 0:
            break
    findings.sort(key=lambda f: _order(f.path))
    return findings


def _skipped(value: Any) -> bool:
    """Whether a value cannot hold anything found (most values): not walked at all."""
    kind = type(value)
    if kind is str:
        return len(value) < _MIN_CHARS
    if kind is int:
        return -(10**12) < value < 10**12
    return kind is not dict and kind is not list


def _pointer(root: str, entry: tuple) -> str:
    """The JSON pointer of a scanned value, from its chain of parents."""
    parts = []
    while entry[2] is not None:
        name = entry[1]
        parts.append(str(name) if isinstance(name, int) else escape_segment(name))
        entry = entry[2]
    return root + "".join(f"/{p}" for p in reversed(parts))


def _order(path: str) -> list:
    """Findings in document order: array indices compared as numbers."""
    return [(0, int(p), "") if _is_index(p) else (1, 0, p) for p in path.split("/")]


def _is_index(part: str) -> bool:
    """Whether a pointer segment is an array index ("²".isdigit() is true, but no index)."""
    return part.isascii() and part.isdigit()


def _below(nodes: tuple[dict, ...], name: Any) -> tuple[dict, ...] | None:
    """The allowed-tree nodes for a child `name`; None when personal data is allowed there."""
    if not nodes:
        return nodes
    below = []
    for node in nodes:
        for sub in (node.get(name), node.get(ANY) if name is not ANY else None):
            if sub is not None:
                if ALLOWED in sub:
                    return None
                below.append(sub)
    return tuple(below)


def finding_violation(finding: Finding, plan_version: int, severity: str) -> dict[str, Any]:
    """A finding in the violation format (docs/pii.md)."""
    masked = mask_matches(finding.value, finding.matches)
    kind = finding.matches[0].kind
    return {
        "path": finding.path,
        "rule": RULE,
        "expected": EXPECTED,
        "actual": masked,
        "message": (
            f"{finding.key} looks like {KIND_NAMES[kind]} ({masked}); mark the property "
            '"pii": true in the plan if it may hold personal data'
        ),
        "plan_version": plan_version,
        "severity": severity,
        "kind": kind,
    }


def judged(
    verdict: Verdict, subject: Any, root: str, allowed: dict, policy: str, plan_version: int
) -> Verdict:
    """`verdict` with the personal data found in `subject` under `policy`: findings appended
    as violations (warnings; errors that make a valid event invalid under `fail`), and every
    other violation's quote of a found value masked."""
    if policy == "off":
        return verdict
    if policy not in POLICIES:
        raise ValueError(f"unknown PII policy {policy!r}")
    findings = scan(subject, root, allowed)
    if not findings:
        return verdict
    severity = "error" if policy == "fail" else "warning"
    masks = {m.raw: m.mask for f in findings for m in f.matches}
    violations = [_masked(v, masks) for v in verdict.violations]
    violations += [finding_violation(f, plan_version, severity) for f in findings[:MAX_FINDINGS]]
    if len(findings) > MAX_FINDINGS:
        more = len(findings) - MAX_FINDINGS
        violations.append(_more_violation(root, more, plan_version, severity))
    status = INVALID if policy == "fail" and verdict.status == VALID else verdict.status
    return Verdict(status, violations, verdict.blocked)


def _more_violation(root: str, more: int, plan_version: int, severity: str) -> dict[str, Any]:
    return {
        "path": root,
        "rule": RULE,
        "expected": EXPECTED,
        "actual": more,
        "message": f"{more} more values look like personal data: masked, not listed",
        "plan_version": plan_version,
        "severity": severity,
        "kind": MORE,
    }


def _masked(value: Any, masks: dict[str, str]) -> Any:
    """value with every occurrence of a raw match replaced by its mask, in strings at any
    depth (a violation's actual, expected and message)."""
    if isinstance(value, str):
        for raw, mask in masks.items():
            if raw in value:
                value = value.replace(raw, mask)
        return value
    if isinstance(value, dict):
        return {k: _masked(v, masks) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, masks) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and str(abs(value)) in masks:
        return ("-" if value < 0 else "") + masks[str(abs(value))]
    return value


# ---- what pages and answers show ------------------------------------------------------------


def masked_payload(payload: Any, violations: Any) -> Any:
    """A copy of a stored payload to show, with the values the event's `pii` violations point
    at masked (the stored payload keeps them raw, for re-validation). A native event's
    properties are its top-level fields, so `/properties/x` is looked for at `/x` too."""
    ours = [v for v in violations or () if isinstance(v, dict) and v.get("rule") == RULE]
    paths = [v["path"] for v in ours if isinstance(v.get("path"), str)]
    if not paths or not isinstance(payload, dict):
        return payload
    if any(v.get("kind") == MORE for v in ours):
        return _mask_everywhere(payload)  # not every finding is listed: mask all that looks so
    shown = copy.deepcopy(payload)
    for path in paths:
        _mask_at(shown, path)
        if path.startswith("/properties/"):
            # A native event's property; masking the other place too is harmless (only
            # personal data inside it is replaced).
            _mask_at(shown, path[len("/properties") :])
    return shown


def masked_field(value: Any, violations: Any, name: str) -> Any:
    """A field copied out of the payload (the user id column) as shown: masked when a `pii`
    violation points at the property `name`."""
    if not isinstance(value, str):
        return value
    for v in violations or ():
        if (
            isinstance(v, dict)
            and v.get("rule") == RULE
            and v.get("path")
            in (
                f"/properties/{name}",
                f"/traits/{name}",
                f"/{name}",
            )
        ):
            return mask_text(value, name)
    return value


def masked_message(message: Any) -> Any:
    """A queued event's message (a dead letter's) as shown: its payload and user id masked
    like a stored event's; an escaped copy (`escaped`, JSON text) has all it holds masked."""
    if not isinstance(message, dict):
        return message
    shown = dict(message)
    if isinstance(shown.get("payload"), dict):
        shown["payload"] = masked_payload(shown["payload"], shown.get("violations"))
        shown["user_id"] = masked_field(shown.get("user_id"), shown.get("violations"), "userId")
    if isinstance(shown.get("escaped"), str):
        shown["escaped"] = mask_text(shown["escaped"])
    return shown


def _mask_everywhere(value: Any) -> Any:
    """A copy of value with whatever looks like personal data masked, allowed or not."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_everywhere(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_everywhere(v) for v in value]
    return _mask_value(value, None)


def _mask_at(document: Any, path: str) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    if not parts:
        return
    node = document
    for part in parts[:-1]:
        node = _step(node, part)
        if node is None:
            return
    last = parts[-1]
    if isinstance(node, dict) and last in node:
        node[last] = _mask_value(node[last], last)
    elif isinstance(node, list) and _is_index(last) and int(last) < len(node):
        # An array item was scanned under the name of the property holding the array.
        holder = next((p for p in reversed(parts[:-1]) if not _is_index(p)), None)
        node[int(last)] = _mask_value(node[int(last)], holder)


def _step(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and _is_index(part) and int(part) < len(node):
        return node[int(part)]
    return None


def _mask_value(value: Any, key: str | None) -> Any:
    if isinstance(value, str):
        return mask_text(value, key)
    if isinstance(value, int) and not isinstance(value, bool):
        matches = _number_matches(value)
        return mask_matches(str(value), matches) if matches else value
    return value
