"""Model files: Hub downloads and their cache, Hub file names, the catalogue, scans of local
folders, load-error wording. Imports core, project (settings) and media."""
