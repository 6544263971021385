"""Speech: audio reading, GE2E and ECAPA speaker encoders, VoxCeleb/TIMIT adapters, height heads."""

from embedforge.modalities.base import Audio
from embedforge.modalities.speech import ecapa, examples, ge2e, recipes, timit, voxceleb  # noqa: F401  (registration)
from embedforge.modalities.speech.audio import decode_audio, read_audio
from embedforge.registry.modalities import Examples, Modality, RawInput, register_modality


def _waveform(hit):
    """A stored utterance drawn as its waveform (analyze's map, search --sheet)."""
    from embedforge.modalities.sheets import waveform_picture
    from embedforge.modalities.speech.audio import read_audio, to_mono

    return waveform_picture(to_mono(read_audio(str(hit["uri"]), hit.get("id")).waveform))


def _sheet(hits, path):
    from embedforge.modalities.sheets import picture_sheet

    return picture_sheet(hits, path, _waveform)


MODALITY = register_modality(
    Modality(
        name="speech",
        sample_type=Audio,
        adapters=("voxceleb", "timit"),
        read_query=read_audio,
        raw_input=RawInput(
            column="audio", decode=decode_audio, description="base64 WAV/FLAC bytes (or a file:// path)", suffix=".wav"
        ),
        default_heads=("classify/logreg", "classify/rf", "classify/linear", "classify/ridge"),
        default_encoders=("speech/ge2e",),
        query_suffixes=(".wav", ".flac", ".sph"),
        description="utterances as audio files; speaker embeddings",
        contact_sheet=_sheet,
        thumbnail=_waveform,
        examples=Examples(examples.sample, examples.query_file, examples.datasets),
    )
)
