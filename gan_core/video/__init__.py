"""Video out of a trained video GAN: clips as animated GIFs (the ``dvdgan`` run type is in ``runtypes.video``)."""
