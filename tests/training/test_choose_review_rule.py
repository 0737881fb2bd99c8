"""An adapter's own review rule (training/choose_review_rule.py): the check's weight chosen by
accuracy, the thresholds on the even rows, the odd rows reporting, and the triager carrying it."""

import json
import math

import pandas as pd
import pytest

from model.inference import load_triager
from model.metadata import REPLACEMENT_JOURNAL
from model.review import REVIEW_RULE_FILE, ReviewRule, ReviewThresholds, read_review_rule
from model.schema import CATEGORIES
from training.choose_review_rule import choose_check_weight, decided_categories, main

LOG = math.log


def sure_of(category: str, probability: float = 0.9) -> dict[str, float]:
    rest = (1 - probability) / (len(CATEGORIES) - 1)
    return {c: probability if c == category else rest for c in CATEGORIES}


def check_says(category: str, probability: float = 0.99) -> dict[str, float]:
    return {c: LOG(probability if c == category else (1 - probability) / (len(CATEGORIES) - 1)) for c in CATEGORIES}


def test_the_weight_that_decides_best_is_chosen():
    # the model is sure and wrong on the first half, right on the second; the check is right everywhere
    labels = ["other"] * 10 + ["add_user"] * 10
    model = [sure_of("reset_password")] * 10 + [sure_of("add_user")] * 10
    checks = [check_says(label) for label in labels]
    weight, table = choose_check_weight(model, checks, labels)
    assert table[0.0] == 0.5 and table[weight] == 1.0 and weight > 0
    assert decided_categories(model, checks, 0.0) == ["reset_password"] * 10 + ["add_user"] * 10


def test_a_check_that_only_misleads_gets_no_weight_and_ties_go_to_the_smaller():
    labels = ["other"] * 10
    model = [sure_of("other", 0.6)] * 10
    misleading = [check_says("add_user")] * 10
    assert choose_check_weight(model, misleading, labels)[0] == 0.0
    agreeing = [check_says("other")] * 10  # every weight is right: the model alone is the simpler rule
    assert choose_check_weight(model, agreeing, labels)[0] == 0.0


@pytest.fixture(scope="module")
def dev_rows(tmp_path_factory):
    """Twelve rows of the dev set: six choose, six report."""
    from tests.conftest import REPO_ROOT

    rows = tmp_path_factory.mktemp("review-rule") / "twelve.csv"
    pd.read_csv(REPO_ROOT / "training/data/dev.csv", keep_default_na=False).head(12).to_csv(rows, index=False)
    return rows


def test_the_rule_is_chosen_on_the_even_rows_and_travels_with_the_adapter(tiny_adapter, dev_rows, tmp_path, capsys):
    adapter, rows = tiny_adapter[0], dev_rows
    assert not (adapter / REVIEW_RULE_FILE).exists()
    assert main(["--adapter", str(adapter), "--data", str(rows), "--out", str(tmp_path / "out"),
                 "--time-budget", "60"]) == 0
    printed = json.loads(capsys.readouterr().out)
    rule = read_review_rule(adapter)
    assert rule.to_dict() == printed and rule.chosen is not None
    assert rule.chosen["on"].endswith("even rows (0, 2, 4, ...: 6 rows)")
    assert set(rule.chosen["check_weight_accuracy"]) == {"0.0", "0.5", "1.0", "1.5", "2.0", "3.0"}
    assert rule.chosen["reported"]["rows"] == "odd"
    assert len(pd.read_csv(tmp_path / "out/predictions.csv")) == 12  # every row triaged; the odd ones report
    triager = load_triager(adapter=adapter)
    assert triager.review_rule == rule and triager.check_weight == rule.check_weight
    triager.use_adapter(None)  # the plain base has no rule of its own
    assert triager.review_rule.chosen is None


def test_a_dry_run_leaves_the_adapter_as_it_is(tiny_adapter, dev_rows, tmp_path, capsys):
    adapter, rows = tiny_adapter[0], dev_rows
    before = (adapter / REVIEW_RULE_FILE).read_bytes() if (adapter / REVIEW_RULE_FILE).exists() else None
    assert main(["--adapter", str(adapter), "--data", str(rows), "--out", str(tmp_path / "out"), "--dry-run",
                 "--time-budget", "60"]) == 0
    after = (adapter / REVIEW_RULE_FILE).read_bytes() if (adapter / REVIEW_RULE_FILE).exists() else None
    assert before == after and (tmp_path / "out/choice.json").exists()


def test_a_broken_rule_refuses_the_adapter_and_leaves_the_triager_as_it_was(tiny_adapter, tmp_path):
    import shutil

    adapter = tmp_path / "broken"
    shutil.copytree(tiny_adapter[0], adapter)
    (adapter / REVIEW_RULE_FILE).write_text('{"confidence": 2}')
    triager = load_triager(adapter=tiny_adapter[0])
    before = (triager.adapter, triager.review_rule, triager.first_token_bias)
    with pytest.raises(ValueError, match="not a review rule"):
        triager.use_adapter(adapter)
    assert (triager.adapter, triager.review_rule, triager.first_token_bias) == before


def test_a_triager_loading_a_half_shipped_adapter_takes_the_new_rule_with_the_new_weights(tiny_adapter, tmp_path):
    """A build killed after deciding to ship (its journal written, the files not yet renamed): the
    triager finishes the ship before it reads anything, so rule, weights and metadata are one ship's."""
    import shutil

    adapter = tmp_path / "shipped"
    shutil.copytree(tiny_adapter[0], adapter)
    new_rule = ReviewRule(ReviewThresholds(0.42, 0.07), 0.5, {"on": "the new build"})
    (adapter / f".{REVIEW_RULE_FILE}.new").write_text(json.dumps(new_rule.to_dict()))
    (adapter / REPLACEMENT_JOURNAL).write_text(json.dumps({"replace": [REVIEW_RULE_FILE], "remove": []}))
    triager = load_triager(adapter=tiny_adapter[0])
    triager.use_adapter(adapter)
    assert triager.review_rule == new_rule and triager.check_weight == 0.5
    assert read_review_rule(adapter) == new_rule and not (adapter / REPLACEMENT_JOURNAL).exists()
