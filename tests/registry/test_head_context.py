"""A head gets the table's encoder and weights only when its factory asks for them."""

from __future__ import annotations

from embedforge.registry.heads import build_head

CONTEXT = {"encoder": "video/clip-vit-b-16", "weights": "/models/clip-b16"}


def test_zero_shot_learns_which_encoder_made_the_table():
    head = build_head("zero-shot", context=CONTEXT)
    assert (head.encoder, head.weights) == ("video/clip-vit-b-16", "/models/clip-b16")


def test_explicit_parameters_win_and_other_heads_ignore_the_context():
    assert build_head("zero-shot", context=CONTEXT, encoder="video/clip-vit-l-14").encoder == "video/clip-vit-l-14"
    ridge = build_head("classify/ridge", context=CONTEXT)
    assert hasattr(ridge, "fit") and not hasattr(ridge, "encoder")
