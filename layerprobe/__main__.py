"""``python -m layerprobe`` runs the command-line interface."""

from layerprobe.cli import main

if __name__ == "__main__":
    main()
