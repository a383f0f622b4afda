"""The notebook face: the IPython magics, one module per family, over the public API."""
