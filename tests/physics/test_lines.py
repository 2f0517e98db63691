"""Line catalogue: xraydb values, experiment overrides with sources, PEP lines."""

import numpy as np
import pytest
import xraydb

from bayes_vip.physics import lines


def test_groups_of_every_element():
    cat = lines.catalogue()
    for el in ("Ti", "Mn", "Fe", "Ni", "Cu", "Zn"):
        for fam in ("Ka", "Kb"):
            g = cat[f"{el} {fam}"]
            assert g.weights.sum() == pytest.approx(1.0)
            assert all(ln.source for ln in g.lines)


def test_xraydb_values_are_used_where_not_overridden():
    ti = lines.line_group("Ti Ka")
    ka1 = {ln.name: ln for ln in ti.lines}["Ka1"]
    assert ka1.energy_eV == xraydb.xray_lines("Ti", "K")["Ka1"].energy
    assert ka1.source == "xraydb"


def test_cu_ka_reference_overrides():
    cu = lines.line_group("Cu Ka")
    by = {ln.name: ln for ln in cu.lines}
    assert by["Ka1"].energy_eV == 8047.8
    assert by["Ka2"].energy_eV == 8027.8
    assert "seed 002" in by["Ka1"].source
    # Ka2/Ka1 = 51/100 (seed 002 eq. 4)
    assert by["Ka2"].intensity / by["Ka1"].intensity == pytest.approx(0.51)
    raw = {ln.name: ln for ln in lines.catalogue(use_overrides=False)["Cu Ka"].lines}
    assert raw["Ka1"].energy_eV == pytest.approx(xraydb.xray_lines("Cu", "K")["Ka1"].energy)


def test_pep_lines_and_signal_choices():
    assert lines.pep_signal("ka1").energies.tolist() == [7746.73]
    assert lines.pep_signal("ka2").energies.tolist() == [7728.83]
    d = lines.pep_signal("doublet")
    np.testing.assert_allclose(d.energies, [7746.73, 7728.83])
    assert d.weights[1] / d.weights[0] == pytest.approx(0.51)
    assert lines.pep_signal(7729).energies.tolist() == [7729.0]
    assert lines.pep_signal("7729").energies.tolist() == [7729.0]
    assert lines.catalogue()["Cu Kb PEP"].energies.tolist() == [8531.69]
    # about 300 eV below the normal Cu Ka1 (seed 000 sec. 1)
    assert 290 < lines.line_group("Cu Ka").lines[0].energy_eV - 7746.73 < 310
    with pytest.raises(ValueError, match="signal choice"):
        lines.pep_signal("kb7")
