import pandas as pd
import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture
def ten_rows(tmp_path):
    """The first 10 rows of the training split: enough for a tiny run on the tiny model."""
    rows = pd.read_csv(REPO_ROOT / "training/data/train.csv", keep_default_na=False).head(10)
    path = tmp_path / "ten.csv"
    rows.to_csv(path, index=False)
    return path
