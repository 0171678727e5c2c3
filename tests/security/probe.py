"""Each security test says what it tried and what came back (pytest -s shows it; -rA keeps it in reports)."""


def tried(what: str, answer: object) -> None:
    print(f"\n  tried: {what}\n  got:   {answer}")
