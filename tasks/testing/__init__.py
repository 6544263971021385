"""``embedforge.testing``: the conformance suite every registered encoder, modality and dataset adapter passes.

Like timm's registry-driven tests, the cases come from the registries, so a plugin's components are checked the
same way as the built-ins. A plugin author's test module needs two lines::

    from embedforge.testing import conformance_tests

    test_encoder, test_modality, test_adapter = conformance_tests(modalities=["mymodality"])

or the pieces: ``encoder_params()`` / ``modality_params()`` / ``adapter_params()`` for ``pytest.mark.parametrize``
and ``check_encoder(name)`` / ``check_modality(name)`` / ``check_adapter(kind)`` to run one case. A check raises
:class:`ConformanceError` naming each broken rule (``RULES`` lists them) or skips with the reason it cannot run
here. Samples, query files and datasets come from the modality's ``Modality.examples``
(:class:`embedforge.registry.modalities.Examples`); a modality without them is checked statically only.

The package lives in ``tasks/testing/`` (installed as ``embedforge.testing``): it exercises modalities, so it sits
at the tasks layer, above them, and needs pytest (the ``test`` extra).
"""

if __name__ != "embedforge.testing":  # an editable install also reaches tasks/testing as embedforge.tasks.testing
    raise ImportError(f"import embedforge.testing, not {__name__} (one module, one ConformanceError class)")

from .conformance import (
    ALLOWED_SPLITS,
    RULES,
    ConformanceError,
    ForeignSample,
    adapter_names,
    adapter_params,
    build_cached,
    check_adapter,
    check_encoder,
    check_modality,
    clear_caches,
    conformance_tests,
    declaring_modalities,
    encoder_names,
    encoder_params,
    example_datasets,
    modality_names,
    modality_params,
    same_content,
    workspace,
)

__all__ = [
    "ALLOWED_SPLITS",
    "RULES",
    "ConformanceError",
    "ForeignSample",
    "adapter_names",
    "adapter_params",
    "build_cached",
    "check_adapter",
    "check_encoder",
    "check_modality",
    "clear_caches",
    "conformance_tests",
    "declaring_modalities",
    "encoder_names",
    "encoder_params",
    "example_datasets",
    "modality_names",
    "modality_params",
    "same_content",
    "workspace",
]
