# nixos/modules/profiles/installation-device.nix
{ config, lib, pkgs, ... }:
{
  imports = [
    # Allow "nixos-rebuild" to work properly by providing /etc/nixos/configuration.nix.
    ./clone-config.nix
    # Include a copy of Nixpkgs so that nixos-install works out of the box.
    ../installer/cd-dvd/channel.nix
  ];

  config = {
    system.nixos.variant_id = lib.mkDefault "installer";

    # Enable in installer, even if the minimal profile disables it.
    documentation.enable = lib.mkImageMediaOverride true;
    # Show the manual.
    documentation.nixos.enable = lib.mkImageMediaOverride true;

    # Use less privileged nixos user
    users.users.nixos = {
      isNormalUser = true;
      extraGroups = [ "wheel" "networkmanager" "video" ];
      # Allow the graphical user to login without password
      initialHashedPassword = "";
    };

    # Allow the user to log in as root without a password.
    users.users.root.initialHashedPassword = "";

    # Allow passwordless sudo from nixos user
    security.sudo.wheelNeedsPassword = lib.mkImageMediaOverride false;

    # Automatically log in at the virtual consoles.
    services.getty.autologinUser = "nixos";

    # Some more help text.
    services.getty.helpLine = ''
      The "nixos" and "root" accounts have empty passwords.
    '';

    # We run sshd by default. Login is only possible after adding a password via "passwd" or by
    # adding a ssh key to ~/.ssh/authorized_keys.
    services.openssh = {
      enable = lib.mkDefault true;
      settings.PermitRootLogin = lib.mkDefault "yes";
    };

    # Enable wpa_supplicant, but don't start it by default.
    networking.wireless.enable = lib.mkDefault true;

    # To speed up installation a little bit, include the complete stdenv in the Nix store on the CD.
    system.extraDependencies = with pkgs; [ stdenv stdenvNoCC busybox jq makeInitrdNGTool ];

    # allow nix-copy to live system
    nix.settings.trusted-users = [ "nixos" ];
  };
}
