# nixos/modules/config/users-groups.nix: the user options the project's modules set or read, the
# root account's defaults, root's shell in the systemd initrd, and the assertions about logging in.
{ config, lib, pkgs, ... }:
let
  inherit (lib) any attrValues elem filterAttrs mapAttrsToList mkDefault mkIf mkMerge mkOption
    types;
  cfg = config.users;

  # Check whether a password hash will allow login.
  allowsLogin = hash:
    hash == "" # login without password
    || !(lib.elem hash [ null "!" "!!" "*" ]);

  userOpts = { name, config, ... }: {
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "If set to false, the user account will not be created.";
      };
      name = mkOption {
        type = types.passwdEntry types.str;
        description = "The name of the user account.";
      };
      uid = mkOption {
        type = with types; nullOr int;
        default = null;
        description = "The account UID.";
      };
      isSystemUser = mkOption {
        type = types.bool;
        default = false;
        description = "Indicates if the user is a system user or not.";
      };
      isNormalUser = mkOption {
        type = types.bool;
        default = false;
        description = "Indicates whether this is an account for a real user.";
      };
      group = mkOption {
        type = types.str;
        default = "";
        description = "The user's primary group.";
      };
      extraGroups = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "The user's auxiliary groups.";
      };
      home = mkOption {
        type = types.passwdEntry types.path;
        default = "/var/empty";
        description = "The user's home directory.";
      };
      createHome = mkOption {
        type = types.bool;
        default = false;
        description = "Whether to create the home directory.";
      };
      useDefaultShell = mkOption {
        type = types.bool;
        default = false;
        description = "If true, the user's shell will be set to users.defaultUserShell.";
      };
      hashedPassword = mkOption {
        type = with types; nullOr (passwdEntry str);
        default = null;
        description = "Specifies the hashed password for the user.";
      };
      password = mkOption {
        type = with types; nullOr str;
        default = null;
        description = "Specifies the (clear text) password for the user.";
      };
      hashedPasswordFile = mkOption {
        type = with types; nullOr str;
        default = null;
        description = "The full path to a file that contains the hash of the user's password.";
      };
      initialHashedPassword = mkOption {
        type = with types; nullOr (passwdEntry str);
        default = null;
        description = "Specifies the initial hashed password for the user.";
      };
      initialPassword = mkOption {
        type = with types; nullOr str;
        default = null;
        description = "Specifies the initial password for the user.";
      };
    };

    config = mkMerge [
      { name = mkDefault name; }
      (mkIf config.isNormalUser {
        group = mkDefault "users";
        createHome = mkDefault true;
        home = mkDefault "/home/${config.name}";
        useDefaultShell = mkDefault true;
        isSystemUser = mkDefault false;
      })
      # If !mutableUsers, setting ‘initialPassword’ is equivalent to setting ‘password’ (and
      # similarly for hashed passwords).
      (mkIf (!cfg.mutableUsers && config.initialPassword != null) {
        password = mkDefault config.initialPassword;
      })
      (mkIf (!cfg.mutableUsers && config.initialHashedPassword != null) {
        hashedPassword = mkDefault config.initialHashedPassword;
      })
    ];
  };

  groupOpts = { name, ... }: {
    options = {
      name = mkOption {
        type = types.passwdEntry types.str;
        description = "The name of the group.";
      };
      gid = mkOption {
        type = with types; nullOr int;
        default = null;
        description = "The group GID.";
      };
    };
    config.name = mkDefault name;
  };
in
{
  options = {
    users.mutableUsers = mkOption {
      type = types.bool;
      default = true;
      description = "Whether users and groups may be changed imperatively.";
    };
    users.users = mkOption {
      default = { };
      type = with types; attrsOf (submodule userOpts);
      description = "Additional user accounts to be created automatically by the system.";
    };
    users.groups = mkOption {
      default = { };
      type = with types; attrsOf (submodule groupOpts);
      description = "Additional groups to be created automatically by the system.";
    };
    users.allowNoPasswordLogin = mkOption {
      type = types.bool;
      default = false;
      description = "Disable the check that root or a wheel user can log in.";
    };

    # systemd initrd
    boot.initrd.systemd.users = mkOption {
      default = { };
      description = "Users to include in initrd.";
      type = types.attrsOf (types.submodule ({ name, ... }: {
        options.uid = mkOption {
          type = types.int;
          default = cfg.users.${name}.uid;
          description = "ID of the user in initrd.";
        };
        options.group = mkOption {
          type = types.singleLineStr;
          default = cfg.users.${name}.group;
          description = "Group the user belongs to in initrd.";
        };
        options.shell = mkOption {
          type = types.passwdEntry types.path;
          default = "${pkgs.shadow}/bin/nologin";
          description = "The path to the user's shell in initrd.";
        };
      }));
    };
    boot.initrd.systemd.groups = mkOption {
      default = { };
      description = "Groups to include in initrd.";
      type = types.attrsOf (types.submodule ({ name, ... }: {
        options.gid = mkOption {
          type = types.int;
          default = cfg.groups.${name}.gid;
          description = "ID of the group in initrd.";
        };
      }));
    };
  };

  config = {
    users.users = {
      root = {
        uid = 0;
        home = "/root";
        group = "root";
      };
      nobody = {
        uid = 65534;
        isSystemUser = true;
        group = "nogroup";
      };
    };
    users.groups = {
      root.gid = 0;
      wheel.gid = 1;
      users.gid = 100;
      nogroup.gid = 65534;
    };

    boot.initrd.systemd = mkIf config.boot.initrd.systemd.enable {
      users.root.shell = mkDefault "/bin/bash";
      groups.root = { };
    };

    assertions = [
      {
        # If mutableUsers is false, to prevent users creating a configuration that locks them out
        # of the system, ensure that there is at least one "privileged" account that has a
        # password or an SSH authorized key. (nixpkgs also accepts
        # security.googleOsLogin.enable, which no nixremote host sets.)
        assertion = !cfg.mutableUsers -> !cfg.allowNoPasswordLogin -> any lib.id (
          mapAttrsToList
            (name: cfg:
              (name == "root" || cfg.group == "wheel" || elem "wheel" cfg.extraGroups)
              && (
                allowsLogin cfg.hashedPassword
                || cfg.password != null
                || cfg.hashedPasswordFile != null
                || cfg.openssh.authorizedKeys.keys != [ ]
                || cfg.openssh.authorizedKeys.keyFiles != [ ]
              ))
            cfg.users
        );
        message = ''
          Neither the root account nor any wheel user has a password or SSH authorized key.
          You must set one to prevent being locked out of your system.'';
      }
    ] ++ lib.flatten (mapAttrsToList
      (name: user: [
        {
          assertion = builtins.match "[a-zA-Z0-9_.][a-zA-Z0-9_.-]*" user.name != null;
          message = "The username \"${user.name}\" is not valid.";
        }
        {
          assertion = user.group != "";
          message = "users.users.${user.name}.group is unset.";
        }
        {
          assertion = lib.xor
            (user.isSystemUser || (user.uid != null && user.uid < 1000 && !user.isNormalUser))
            user.isNormalUser;
          message = "Exactly one of users.users.${user.name}.isSystemUser and users.users.${user.name}.isNormalUser must be set.";
        }
      ])
      (filterAttrs (_: u: u.enable) cfg.users));
  };
}
