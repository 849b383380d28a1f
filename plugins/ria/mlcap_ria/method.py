"""``ria``: the Recurrent Image Annotator (Jin & Nakayama, 2016), the seeds' state-init baseline.

S-CNN-RNN describes it (Sec. 3.1 "CNN-RNN", Fig. 1(b)): "Jin et al. use the image embedding to
initialise the LSTM by setting hidden state h0 = W_i I_e + b_i, where W_i, b_i are image input
weights and biases", with I_e a CNN feature layer of "weak and implicit semantics" -- the model
S-CNN-RNN regularises by putting the concept probabilities s^ in I_e's place. So RIA here is the
core label LSTM (``mlcap.nn.label_lstm``) conditioned on the pooled CNN feature:

* ``--option init=state`` (default): h0 = W_i I_e + b_i, c0 = 0, as written;
* ``--option init=input``: I_e fed at the first time step, (h0, c0) = LSTM(W I_e + b, 0, 0),
  the reading of ARNN (Sec. 4.2 "Evaluation Measures and Compared Methods", on RIA: "feed it into
  LSTM at the first timestep").

Stages, recipe and prediction: those the seeds' CNN-RNN baselines share (``mlcap.nn.cnn_then_rnn``):
``finetune`` trains CNN and LSTM jointly with the sequence NLL alone (no semantic regularisation).
Rare-first order by default (RIA's finding); greedy decoding by default, as S-CNN-RNN's
re-implementation with the same modules (Sec. 3.3 "Training and inference",
Sec. 4.3 "Competitors"); ``predict --beam``.
"""

from __future__ import annotations

from typing import Literal

from mlcap.nn.cnn_then_rnn import CnnThenRnnMethod, CnnThenRnnOptions
from mlcap.nn.label_lstm import LabelLSTMDecoder
from mlcap.protocol import ModelSpec, structural


class RiaOptions(CnnThenRnnOptions):
    init: Literal["state", "input"] = structural("state")   # h0 = W_i I_e + b_i, or I_e as the first input


class RiaMethod(CnnThenRnnMethod):
    name = "ria"
    summary = "Recurrent Image Annotator (Jin & Nakayama 2016): CNN feature sets the LSTM state (baseline)"
    options_model = RiaOptions          # orders: the base's, rare first (RIA's finding)
    stage_help = {**CnnThenRnnMethod.stage_help,
                  "finetune": "CNN + label LSTM from h0 = W_i I_e + b_i, sequence NLL (rare-first)"}
    default_beam = 1            # greedy, as S-CNN-RNN's re-implementation (its Sec. 4, "Competitors")

    def make_decoder(self, spec: ModelSpec, options: RiaOptions, feature_dim: int) -> LabelLSTMDecoder:
        return LabelLSTMDecoder(len(spec.labels), options.embed_dim, options.hidden, num_inputs=feature_dim,
                                cell=options.cell, state_init="h" if options.init == "state" else "input")
