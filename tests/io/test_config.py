"""The analysis configuration.

Defaults, validators, precedence of its sources, errors that name the key (and the file or
flag), and the record in the result files.
"""

from __future__ import annotations

import json

import pytest

from bayes_vip.cli import FLAGS, main
from bayes_vip.errors import InputError
from bayes_vip.io.config import (
    COMMAND_LINE,
    VALIDATORS,
    AnalysisConfig,
    default_config,
    load_config,
    with_values,
)
from tests.conftest import MEASURED_ROOT, MEASURED_RUN


def _run(tmp_path, analysis: str = ""):
    run = tmp_path / "run"
    run.mkdir()
    text = (MEASURED_RUN / "run.toml").read_text()
    text = text.replace(
        "../../../shared/data/vip2-2016-17/energyHistograms.root", str(MEASURED_ROOT)
    )
    (run / "run.toml").write_text(text + "\n" + analysis)
    return run


def test_defaults_are_the_documented_ones():
    c = default_config()
    assert (c.signal, c.n_int) == ("ka1", "rs")
    assert (c.fit.statistic, c.fit.bin_eV, c.fit.sdd) == ("poisson", 10.0, None)
    assert (c.sample.chains, c.sample.warmup, c.sample.samples) == (4, 300, 1000)
    assert (c.sample.prior, c.sample.prior_upper, c.sample.seed) == ("flat-beta", None, 0)
    assert c.calibration.refine
    assert c.calibration.iterations == 200
    assert c.to_dict()["sample"]["bin_eV"] == 40.0
    # every key has a flag in the CLI, except the model's bin width (no option yet)
    assert set(VALIDATORS) - set(FLAGS) == {"sample.bin_eV"}


def test_run_table_then_config_file_then_command_line(tmp_path):
    run = _run(tmp_path, '[analysis]\nsignal = "ka2"\n[analysis.sample]\nchains = 2\nwarmup = 50\n')
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text("[analysis.sample]\nwarmup = 60\nseed = 7\n")
    c = load_config(run, config_file=cfg_file, overrides={"sample.seed": "9", "n_int": None})
    assert c.signal == "ka2"
    assert c.sample.chains == 2
    assert c.sample.warmup == 60  # the config file beats run.toml
    assert c.sample.seed == 9  # the command line beats both (a string, parsed)
    assert c.n_int == "rs"  # None: an option not given
    assert c.source("signal").endswith("run.toml")
    assert c.source("sample.warmup").endswith("c.toml")
    assert c.source("sample.seed") == COMMAND_LINE
    assert c.source("fit.statistic") == "default"
    assert c.signal_line().key == "Cu Ka2 PEP"


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("sample.prior_upper", -1.0, ["> 0"]),
        ("sample.chains", "abc", ["integer"]),
        ("sample.chains", 0, [">= 1"]),
        ("sample.warmup", 2.5, ["integer"]),
        ("sample.prior", "jeffreys", ["flat-beta"]),
        ("signal", "kb", ["ka1", "energy"]),
        ("signal", "nan", ["finite"]),
        ("fit.statistic", "chi", ["poisson"]),
        ("fit.bin_eV", 0, ["> 0"]),
        ("calibration.refine", "maybe", ["true or false"]),
        ("calibration.batch_hours", "inf", ["finite"]),
        ("n_int", "warp", ["close-encounter"]),
    ],
)
def test_a_bad_value_names_its_key(key, value, words):
    with pytest.raises(InputError) as e:
        load_config(overrides={key: value})
    assert e.value.field == key
    assert e.value.file is None
    for w in words:
        assert w in e.value.message


def test_a_bad_value_in_a_file_names_the_file_and_the_key(tmp_path):
    run = _run(tmp_path, "[analysis.sample]\nchains = 0\n")
    with pytest.raises(InputError) as e:
        load_config(run)
    assert e.value.field == "analysis.sample.chains"
    assert str(e.value.file).endswith("run.toml")
    other = tmp_path / "b"
    other.mkdir()
    with pytest.raises(InputError, match="unknown key"):
        load_config(_run(other, "[analysis]\nchians = 3\n"))


def test_an_error_raised_later_names_where_the_key_came_from(tmp_path):
    run = _run(tmp_path, "[analysis.fit]\nbin_eV = 2.5\n")
    c = load_config(run)
    later = c.locate(InputError("not a multiple of the data's 1 eV bins", field="fit.bin_eV"))
    assert later.field == "analysis.fit.bin_eV"
    assert str(later.file).endswith("run.toml")
    c2 = load_config(overrides={"fit.bin_eV": 2.5})
    same = InputError("x", field="fit.bin_eV")
    assert c2.locate(same) is same  # a command-line key: the CLI shows its flag


def test_configurations_are_frozen_and_comparable():
    c = default_config()
    with pytest.raises(AttributeError):
        c.signal = "ka2"  # type: ignore[misc]
    d = with_values(c, sample={"chains": 2})
    assert d.sample.chains == 2
    assert c.sample.chains == 4
    assert d != c
    assert AnalysisConfig() == default_config()


def test_cli_shows_the_flag_and_the_key_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv, flag in (
        (["sample", "--prior-upper", "-1"], "--prior-upper (sample.prior_upper)"),
        (["fit", "--signal-energy", "abc"], "--signal-energy (signal)"),
        (["sample", "--chains", "abc"], "--chains (sample.chains)"),
        (["calibrate", "--iterations", "0"], "--iterations (calibration.iterations)"),
        (["sample", "--line-sd-eV", "-1"], "--line-sd-eV (sample.line_sd_eV)"),
        (["sample", "--line-sd-eV", "300"], "--line-sd-eV (sample.line_sd_eV)"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert flag in err[0], err
    assert list(tmp_path.iterdir()) == []  # the demo was not even simulated


def test_cli_names_the_run_file_for_a_bad_analysis_table(capsys, tmp_path):
    run = _run(tmp_path, "[analysis.sample]\nprior = 'uniform'\n")
    assert main(["sample", str(run)]) == 2
    err = capsys.readouterr().err
    assert "run.toml: analysis.sample.prior: must be one of" in err


def test_classic_json_records_the_configuration(tmp_path, capsys, measured_root):
    run = _run(tmp_path, "[analysis.sample]\nchains = 2\n")
    assert main(["fit", str(run), "--json", "--signal-energy", "KA1"]) == 0
    out = json.loads(capsys.readouterr().out)
    saved = json.loads((run / "results" / "classic.json").read_text())
    assert out["config"] == saved["config"] == load_config(run).to_dict()
    assert saved["config"]["sample"]["chains"] == 2
    assert saved["config"]["signal"] == "ka1"
