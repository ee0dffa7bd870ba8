# nixos/modules/programs/less.nix (lessopen, which profiles/perlless.nix sets)
{ lib, ... }:
{
  options.programs.less.lessopen = lib.mkOption {
    type = lib.types.nullOr lib.types.str;
    default = "|lesspipe.sh %s";
    description = "Before less opens a file, it first gives your input preprocessor a chance to modify the way the contents of the file are displayed.";
  };
}
