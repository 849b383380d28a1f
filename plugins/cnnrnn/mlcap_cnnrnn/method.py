"""``cnnrnn``: CNN-RNN (Wang et al., CVPR 2016), the seeds' output-fusion baseline.

Stages, recipe and prediction are those the seeds' CNN-RNN baselines share (``mlcap.nn.cnn_then_rnn``:
``pretrain-cnn`` as S-CNN-RNN's, then ``finetune`` of the CNN and the output-fusion decoder of
``network.py`` with the sequence NLL), frequent-first by default as that paper, beam search of
width 3 by default (``predict --beam``; 1 = greedy). ``--freeze-backbone`` trains the heads only:
the orderless seed (Sec. 4.3 "Experimental results") suspects some
reported CNN-RNN baselines trained only the last layer. Wang et al.'s own recipe is not among the
papers here: S-CNN-RNN's is used (same modules, Sec. 4.3 "Competitors").
"""

from __future__ import annotations

from typing import Literal

from mlcap.nn.cnn_then_rnn import CnnThenRnnMethod, CnnThenRnnOptions
from mlcap.protocol import ModelSpec, structural

from mlcap_cnnrnn.network import OutputFusionDecoder


class CnnRnnOptions(CnnThenRnnOptions):
    fusion: Literal["relu", "linear"] = structural("relu")   # activation of the joint projection x(t)


class CnnRnnMethod(CnnThenRnnMethod):
    name = "cnnrnn"
    summary = "CNN-RNN (Wang et al., CVPR 2016): joint label-embedding space, output fusion (baseline)"
    stage_help = {**CnnThenRnnMethod.stage_help,
                  "finetune": "CNN + output-fusion label RNN jointly, sequence NLL (frequent-first)"}
    options_model = CnnRnnOptions
    orders = ("frequent", "rare", "dictionary", "random")   # Wang et al.'s order first
    default_beam = 3            # Wang et al. decode with beam search

    def make_decoder(self, spec: ModelSpec, options: CnnRnnOptions, feature_dim: int) -> OutputFusionDecoder:
        return OutputFusionDecoder(len(spec.labels), feature_dim, options.embed_dim, options.hidden,
                                   cell=options.cell, fusion=options.fusion)
