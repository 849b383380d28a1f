"""The toolkit a method plugin composes (with the contract, ``mlcap.protocol``): the shared image
encoder and backbones, LSTM cells and the label LSTM, soft attention, beam search and the decoding
helpers, label-order alignment (PLA/MLA), losses, REINFORCE, per-sample noise, and the CNN-then-RNN
base of the baselines. Nothing here names a method."""

from mlcap.models import create_backbone
from mlcap.nn.encoder import ConceptEncoder, EncoderDecoder
from mlcap.nn.lstm import LSTMCell, run_lstm, split_saved_kernels, upgrade_optimizer_state
from mlcap.sample_noise import SampleDropout, sample_bernoulli, sample_uniform
from mlcap.seeding import DROPOUT, REINFORCE, WARP   # the streams a method draws from

__all__ = ["DROPOUT", "REINFORCE", "WARP", "ConceptEncoder", "EncoderDecoder", "LSTMCell", "SampleDropout",
           "create_backbone", "run_lstm", "sample_bernoulli", "sample_uniform",
           "split_saved_kernels", "upgrade_optimizer_state"]
