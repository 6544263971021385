import pytest

from embedforge.registry import Registry, RegistryError


def test_duplicate_key_is_an_error():
    reg = Registry("thing")
    reg.register("speech/a", 1)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("speech/a", 2)
    assert reg.get("speech/a") == 1


def test_unknown_key_lists_close_matches():
    reg = Registry("encoder")
    reg.register("speech/ecapa-voxceleb", 1)
    reg.register("speech/ge2e", 2)
    with pytest.raises(RegistryError) as err:
        reg.get("speech/ecapa")
    assert "did you mean speech/ecapa-voxceleb" in str(err.value)
    assert "unknown encoder 'speech/ecapa'" in str(err.value)


def test_decorator_and_listing():
    reg = Registry("head")

    @reg.register("classify/x")
    def make():
        return "x"

    assert reg.get("classify/x") is make
    assert reg.names("classify/") == ["classify/x"] and "classify/x" in reg and len(reg) == 1
