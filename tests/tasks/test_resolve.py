"""Leaderboard resolution: a bare dataset name takes its modality's default adapter from the registry."""

import pytest

from embedforge.registry.modalities import modality
from embedforge.registry.registry import RegistryError
from embedforge.tasks.resolve import dataset_ref, weights_for


def test_dataset_refs_use_the_modality_default_adapter():
    assert dataset_ref(name="GunPoint", modality_name="timeseries") == "ucr:GunPoint"
    assert dataset_ref(name="/data/UCR/Wine", modality_name="timeseries") == "ucr:/data/UCR/Wine"
    assert dataset_ref(name="ucr:ArrowHead", modality_name="timeseries") == "ucr:ArrowHead"
    assert dataset_ref(name="40", modality_name="cardiac") == "ecgsim:40"
    assert dataset_ref(name="/data/vox1", modality_name="speech") == "voxceleb:/data/vox1"
    assert dataset_ref(name="/x", modality_name="test") == f"{modality('test').default_adapter}:/x"


def test_unknown_modality_names_the_registered_ones():
    with pytest.raises(RegistryError, match=r"unknown modality .audio.*registered: .*speech"):
        dataset_ref(name="x", modality_name="audio")


def test_fit_on_data_encoders_take_the_dataset_as_weights():
    assert weights_for(encoder="timeseries/minirocket", ref="ucr:GunPoint", weights={}) == "ucr:GunPoint"
    assert weights_for(encoder="test/tiny", ref="arrays:/x", weights={"test/tiny": "3"}) == "3"
