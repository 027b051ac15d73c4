"""Training on layers: CTC character recognition with frozen-layer probes and fine-tuning.

:mod:`.ctc` (character vocabulary, text normalisation, greedy and LM beam decoding, WER / CER),
:mod:`.data` (transcripts, length bucketing, padded CTC batches of stored features or waveforms),
:mod:`.probes` (3-layer BiLSTM probes reading one frozen layer), :mod:`.schedule` (tri-stage
learning-rate schedule), :mod:`.trainer` (the one CTC training loop: checkpoints, resumption,
early stopping, Accelerate), :mod:`.finetune` (re-initialised and local-attention CTC fine-tuning).

Import from the modules; this package re-exports nothing, so importing one module never pulls in
the others (or torch models) it does not need.
"""
