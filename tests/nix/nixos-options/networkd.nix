# nixos/modules/system/boot/networkd.nix with nixos/lib/systemd-lib.nix: systemd.network and
# boot.initrd.systemd.network (the .network units the project writes), the value checks of the
# sections it uses, and the unit text as networkd reads it (environment.etc, and
# boot.initrd.systemd.contents for the initrd).
{ config, lib, ... }:
let
  inherit (lib) mkIf mkOption types;

  # systemd-lib.nix
  boolValues = [ true false "yes" "no" ];
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge = loc: defs:
      let defs' = lib.filterOverrides defs;
      in
      if lib.isList (lib.head defs').value
      then lib.concatMap (def: if builtins.typeOf def.value == "list" then def.value
        else throw "The definitions for systemd unit options should be either all lists or all non-lists (${lib.showOption loc})") defs'
      else lib.mergeEqualOption loc defs';
  };
  toOption = x: if x == true then "true" else if x == false then "false" else toString x;
  attrsToSection = as: lib.concatStrings (lib.concatLists (lib.mapAttrsToList
    (name: value: map (x: "${name}=${toOption x}\n") (if lib.isList value then value else [ value ]))
    as));
  # checkUnitConfig: assertOnlyFields / assertValueOneOf / assertInt
  onlyFields = fields: group: lib.all (n: lib.elem n fields) (lib.attrNames group);
  valueOneOf = name: values: group: !(group ? ${name}) || lib.elem group.${name} values;
  isInt = name: group: !(group ? ${name}) || lib.isInt group.${name};
  checked = checks: types.addCheck (types.attrsOf unitOption) (group: lib.all (c: c group) checks);

  sectionMatch = checked [
    (onlyFields [ "MACAddress" "PermanentMACAddress" "Path" "Driver" "Type" "Kind" "Name" "Property"
      "Host" "Virtualization" "KernelCommandLine" "KernelVersion" "Credential" "Architecture"
      "Firmware" "SSID" "BSSID" "WLANInterfaceType" ])
  ];
  sectionLink = checked [
    (valueOneOf "RequiredForOnline" (boolValues ++ [ "missing" "off" "no-carrier" "dormant"
      "degraded-carrier" "carrier" "degraded" "enslaved" "routable" ]))
  ];
  sectionNetwork = checked [
    (valueOneOf "DHCP" (boolValues ++ [ "ipv4" "ipv6" ]))
    (valueOneOf "IPv6AcceptRA" boolValues)
  ];
  sectionRoute = checked [
    (onlyFields [ "Gateway" "GatewayOnLink" "Destination" "Source" "Metric" "IPv6Preference"
      "Scope" "PreferredSource" "Table" "Protocol" "Type" "InitialCongestionWindow"
      "InitialAdvertisedReceiveWindow" "QuickAck" "FastOpenNoCookie" "MTUBytes" "TCPAdvMSS"
      "TCPCongestionControlAlgorithm" "MultiPathRoute" "NextHop" ])
    (valueOneOf "GatewayOnLink" boolValues)
    (isInt "Metric")
  ];

  networkOptions = {
    options = {
      enable = mkOption {
        default = true;
        type = types.bool;
        description = "Whether to manage network configuration using systemd-network.";
      };
      matchConfig = mkOption {
        default = { };
        type = sectionMatch;
        description = "Each attribute in this set specifies an option in the `[Match]` section.";
      };
      linkConfig = mkOption {
        default = { };
        type = sectionLink;
        description = "Each attribute in this set specifies an option in the `[Link]` section.";
      };
      networkConfig = mkOption {
        default = { };
        type = sectionNetwork;
        description = "Each attribute in this set specifies an option in the `[Network]` section.";
      };
      address = mkOption {
        default = [ ];
        type = types.listOf types.str;
        description = "A list of addresses to be added to the network section of the unit.";
      };
      routes = mkOption {
        default = [ ];
        type = types.listOf sectionRoute;
        description = "A list of route sections to be added to the unit.";
      };
    };
  };

  networkText = def: ''
    [Match]
    ${attrsToSection def.matchConfig}
    ${lib.optionalString (def.linkConfig != { }) ''
      [Link]
      ${attrsToSection def.linkConfig}
    ''}
    [Network]
    ${attrsToSection def.networkConfig}
    ${lib.concatStringsSep "\n" (map (s: "Address=${s}") def.address)}
    ${lib.concatMapStrings (x: ''
      [Route]
      ${attrsToSection x}
    '') def.routes}
  '';

  networkdOptions = {
    enable = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable networkd or not.";
    };
    networks = mkOption {
      default = { };
      type = with types; attrsOf (submodule networkOptions);
      description = "Definition of systemd networks.";
    };
  };

  unitFiles = networks: lib.mapAttrs'
    (name: def: lib.nameValuePair "systemd/network/${name}.network" { text = networkText def; })
    (lib.filterAttrs (_: def: def.enable) networks);
in
{
  options = {
    systemd.network = networkdOptions;
    boot.initrd.systemd.network = networkdOptions;
  };

  config = lib.mkMerge [
    (mkIf config.systemd.network.enable {
      environment.etc = unitFiles config.systemd.network.networks;
    })
    (mkIf config.boot.initrd.systemd.network.enable {
      boot.initrd.systemd.contents = lib.mapAttrs'
        (name: value: lib.nameValuePair "/etc/${name}" value)
        (unitFiles config.boot.initrd.systemd.network.networks);
    })
  ];
}
