"""The client's arguments: values out of range are refused with the range (exit 3, the usage
error), before anything is asked of the service."""

from __future__ import annotations

import pytest
from lvd.cli import build_parser


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("0", "'0' must be above 0 and below 10000000"),
        ("99999999", "'99999999' must be above 0 and below 10000000"),
        ("1000000", "'1000000' days is more than 36500"),
    ],
)
def test_impact_days_out_of_range_are_refused_with_the_range(days, message, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["plan", "diff", "plan.json", "--impact", days])
    assert exited.value.code == 3 and message in capsys.readouterr().err
