"""A catalogue of correct textbook forms of every formula (``catalogue``) and three implementations
built from them (``composites``): what the error model must allow."""
