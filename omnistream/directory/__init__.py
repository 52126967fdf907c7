"""Who one can hand a conversation to: active colleagues and divisions, for every role."""
