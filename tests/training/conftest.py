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


@pytest.fixture(scope="module")
def tiny_adapter(tiny_base_dir, tmp_path_factory):
    """A LoRA adapter trained two steps on the tiny model, and the ten training rows it saw; one per
    test module, so what one module writes beside it (a calibration, a review rule) stays there."""
    from training.config import TrainConfig
    from training.finetune_lora import setup

    folder = tmp_path_factory.mktemp("tiny-adapter")
    rows = folder / "ten.csv"
    pd.read_csv(REPO_ROOT / "training/data/train.csv", keep_default_na=False).head(10).to_csv(rows, index=False)
    adapter = setup(TrainConfig(base_model=str(tiny_base_dir), train_file=str(rows), val_file="",
                                out_dir=str(folder / "run"), batch_size=4, max_steps=2, lora_r=4, lora_alpha=8))
    return adapter, rows
