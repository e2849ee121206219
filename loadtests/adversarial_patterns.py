"""The adversarial plan patterns and 32 KB texts both halves of `make bench-patterns` use."""

LONG = 32 * 1024
# The adversarial patterns (each exponential or worse for a backtracking engine), then the
# costliest ones found within the caps: counted repetitions whose DFA outgrows its memory, so
# RE2 runs its NFA (linear, but input length x program size).
PATTERNS = [
    r"^(a+)+$",
    r"(a|a)*b",
    r"(.*a){20}",
    r"^((a*)*)*$",
    r"^(a|aa)+$",
    r"(x+x+)+y",
    r"^(\w+\s?)*$",
    r"^([a-z0-9]+([-._][a-z0-9]+)*)*@x$",
    r"(?:.{0,10}){1,9}z",
    r"[a-q][^u-z]{50}x",
    r"(?:a.{0,20}){12}z",
    r"(?:[a-h][^z]{0,20}){12}$",
]
# The 5 ms target is for the classic adversarial patterns; the within-cap ones are reported.
CLASSIC = PATTERNS[:8]
TEXTS = {
    "a*32K+b": "a" * LONG + "b",
    "mixed": ("abcdefghxyz ." * LONG)[:LONG],
    "a-h": ("abcdefgh" * LONG)[:LONG],
}
