"""A catalogue of classic hand-written backprop bugs, each a complete SUT (see ``catalogue``)."""
