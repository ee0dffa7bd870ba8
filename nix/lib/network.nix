# The network of an installed host, derived from its runtime-info.json.
#
# Pure: only builtins, no nixpkgs, so it can be evaluated and tested with plain
#   nix-instantiate --eval --strict --json -E '(import ./nix/lib/network.nix).toNixos info'
#
# Input: the parsed runtime-info.json, in either shape:
#   - rich (schemaVersion 1 with `interfaces`, `routes`, `nameservers`, `primaryInterface`), or
#   - the original installer's flat fields only (`networkInterface`, `networkInterfaceModule`,
#     `ipv4{address,prefixLength,gateway,netmask}`, `ipv6{address,prefixLength,gateway}`).
#
# Output of `toNixos`: an attribute set shaped like NixOS configuration (usable as a module):
#   networking.{hostName,domain (or null),hostId,useDHCP,useNetworkd,nameservers}
#   systemd.network.{enable,networks}   one systemd-networkd unit per configured interface
#   boot.initrd.availableKernelModules  the NIC drivers (for the initrd SSH unlock)
#   boot.initrd.network.{udhcpc.enable,postCommands}  the same addresses for the initrd
#
# Why systemd-networkd units matched by MAC: the rescue system that collected the facts names the
# NIC `eth0`, NixOS names it `enp1s0` (or `ens3`, depending on the firmware); the MAC address is the
# one identifier both systems agree on. networkd matches on it natively (`matchConfig.MACAddress`),
# so no udev rename rule and no guessing of the future name is needed. An interface without a
# known MAC (a legacy file) is matched by its predictable name instead.
#
# Rules, per interface:
#   - static IPv4 addresses (not `dynamic`) are configured as they were; a default route whose
#     gateway lies outside every configured prefix (the hoster's /32 behind 172.31.1.1) gets
#     GatewayOnLink, so it works without a connected route to the gateway;
#   - DHCPv4 when the interface had a leased (`dynamic`) IPv4 address, or when it is the primary
#     interface and had no static address at all (neither v4 nor global v6);
#   - static global IPv6 addresses are configured, link-local ones are left to the kernel, the
#     default route goes via its gateway (typically `fe80::1`, reachable on the link);
#     router advertisements are accepted unless the interface has static IPv6 only;
#   - routes without a gateway (connected prefixes) are dropped: the addresses imply them;
#   - interfaces with no address at all, other than the primary, are left unconfigured.
#
# The runtime info comes from the machine being replaced, so its texts are untrusted: a value with
# a newline or another control character (which would start a new line, or section, in a
# networkd unit or resolv.conf) is refused with `throw`, a field of the wrong type too, and every
# value that reaches the initrd's shell (postCommands) is quoted with `escapeShellArg`.
let
  inherit (builtins)
    all any attrNames concatLists concatStringsSep elem elemAt filter foldl' fromJSON genList
    head isAttrs isInt isList isString length listToAttrs map match replaceStrings split substring
    stringLength toJSON toString;

  orNull = set: name: if isAttrs set && set ? ${name} then set.${name} else null;
  orDefault = set: name: default: let v = orNull set name; in if v == null then default else v;
  unique = list: foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ] list;
  lower = replaceStrings
    [ "A" "B" "C" "D" "E" "F" ]
    [ "a" "b" "c" "d" "e" "f" ];

  # --- untrusted text -------------------------------------------------------------------------
  # nixpkgs' lib.escapeShellArg, with builtins only: one shell word, whatever the value holds.
  escapeShellArg = s: "'" + replaceStrings [ "'" ] [ "'\\''" ] s + "'";

  refuse = what: value: reason:
    throw ("nixremote: runtime-info.json: ${what} ${toJSON value} ${reason}; "
      + "correct the file (nixremote runtime-info check)");
  checkText = what: value:
    if !(isString value) then refuse what value "is not a string"
    else if match "[^[:cntrl:]]*" value == null
    then refuse what value "contains a newline or another control character"
    else value;
  checkOptText = what: value: if value == null then null else checkText what value;
  checkInt = what: value: if isInt value then value else refuse what value "is not a whole number";

  checkAddress = what: a: a // {
    address = checkText "${what} address" a.address;
    prefixLength = checkInt "${what} prefixLength of ${toJSON a.address}" a.prefixLength;
  };

  # Every field this file puts into a unit, a resolv.conf line or a shell command.
  validate = info: info // {
    hostName = checkText "hostName" info.hostName;
    hostId = checkOptText "hostId" (orNull info "hostId");
    primaryInterface = checkOptText "primaryInterface" (orNull info "primaryInterface");
    nameservers = map (checkText "nameserver") (orDefault info "nameservers" [ ]);
    interfaces = map
      (iface: iface // {
        name = checkText "interface name" iface.name;
        predictableName = checkOptText "predictableName" (orNull iface "predictableName");
        mac = checkOptText "MAC address" (orNull iface "mac");
        driver = checkOptText "driver" (orNull iface "driver");
        ipv4 = map (checkAddress "IPv4") (orDefault iface "ipv4" [ ]);
        ipv6 = map (checkAddress "IPv6") (orDefault iface "ipv6" [ ]);
      })
      info.interfaces;
    routes = map
      (route: route // {
        family = let f = orNull route "family"; in
          if f == 4 || f == 6 then f else refuse "route family" f "is neither 4 nor 6";
        destination = checkText "route destination" route.destination;
        gateway = checkOptText "route gateway" (orNull route "gateway");
        device = checkOptText "route device" (orNull route "device");
        metric = let m = orNull route "metric"; in
          if m == null then null else checkInt "route metric" m;
      })
      (orDefault info "routes" [ ]);
  };

  # --- IPv4 arithmetic (for "is the gateway inside the address's prefix") ---------------------
  pow2 = n: foldl' (acc: _: acc * 2) 1 (genList (x: x) n);
  ip4ToInt = s:
    let parts = filter isString (split "\\." s);
    in foldl' (acc: p: acc * 256 + fromJSON p) 0 parts;
  isIPv4 = s: isString s && match "[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+" s != null;
  inPrefix4 = addr: prefixLength: other:
    let size = pow2 (32 - prefixLength);
    in (ip4ToInt addr) / size == (ip4ToInt other) / size;
  isLinkLocal6 = s: isString s && match "[fF][eE][89aAbB][0-9a-fA-F]:.*" s != null;
  isDefault = dest: elem dest [ "default" "0.0.0.0/0" "::/0" ];

  # --- the original installer's flat fields -> the rich shape ---------------------------------
  fromLegacy = info:
    let
      name = info.networkInterface;
      block = key: let b = orNull info key; in if isAttrs b && (orNull b "address") != null then b else null;
      v4 = block "ipv4";
      v6 = block "ipv6";
      addr = b: [{ address = b.address; prefixLength = b.prefixLength; dynamic = false; }];
      route = family: b:
        if (orNull b "gateway") == null then [ ]
        else [{
          inherit family;
          destination = "default";
          gateway = b.gateway;
          device = name;
          onLink = false; # decided below from the prefix, as for rich files
          metric = null;
        }];
    in
    info // {
      interfaces = [{
        inherit name;
        predictableName = name;
        mac = null;
        driver = orNull info "networkInterfaceModule";
        ipv4 = if v4 == null then [ ] else addr v4;
        ipv6 = if v6 == null then [ ] else addr v6;
      }];
      primaryInterface = name;
      routes = (if v4 == null then [ ] else route 4 v4) ++ (if v6 == null then [ ] else route 6 v6);
      nameservers = orDefault info "nameservers" [ ];
    };

  # The rich shape, whatever came in.
  normalize = info:
    if info ? interfaces then info
    else if (orNull info "networkInterface") != null then fromLegacy info
    else info // { interfaces = [ ]; routes = [ ]; primaryInterface = null; };

  # --- one interface -> one systemd-networkd unit ----------------------------------------------
  stableName = iface:
    let p = orNull iface "predictableName"; in if p != null then p else iface.name;

  primaryName = info:
    let
      named = orNull info "primaryInterface";
      ifaces = info.interfaces;
    in
    if named != null then named
    else if ifaces != [ ] then (head ifaces).name
    else null;

  ifaceFacts = info: iface:
    let
      v4 = orDefault iface "ipv4" [ ];
      v6 = orDefault iface "ipv6" [ ];
      static4 = filter (a: !(orDefault a "dynamic" false)) v4;
      dynamic4 = filter (a: orDefault a "dynamic" false) v4;
      global6 = filter (a: !(isLinkLocal6 a.address)) v6;
      static6 = filter (a: !(orDefault a "dynamic" false)) global6;
      dynamic6 = filter (a: orDefault a "dynamic" false) global6;
      isPrimary = iface.name == primaryName info;
      # routes of this interface; a route without a device belongs to the primary interface
      myRoutes = filter
        (r: let d = orNull r "device"; in d == iface.name || (d == null && isPrimary))
        (orDefault info "routes" [ ]);
      dhcp4 = dynamic4 != [ ] || (isPrimary && static4 == [ ] && static6 == [ ]);
      acceptRA = dynamic6 != [ ] || static6 == [ ];
    in
    {
      inherit v4 v6 static4 static6 dynamic4 dynamic6 isPrimary myRoutes dhcp4 acceptRA;
      configured = static4 != [ ] || static6 != [ ] || dhcp4 || dynamic6 != [ ];
    };

  # Should the gateway be marked on-link? Yes when the probe said so, or (IPv4) when it lies
  # outside every static prefix of the interface (a /32 behind 172.31.1.1); a link-local IPv6
  # gateway is on the link by definition and needs no flag.
  gatewayOnLink = facts: route:
    let gw = route.gateway; in
    if orDefault route "onLink" false then true
    else if route.family == 4 && isIPv4 gw then
      facts.static4 != [ ] && all (a: !(inPrefix4 a.address a.prefixLength gw)) facts.static4
    else false;

  networkdRoute = facts: route:
    let
      base = { Gateway = route.gateway; }
        // (if isDefault route.destination then { } else { Destination = route.destination; })
        // (if gatewayOnLink facts route then { GatewayOnLink = true; } else { })
        // (if (orNull route "metric") != null then { Metric = route.metric; } else { });
    in
    base;

  # Routes the unit must carry: those with a gateway, of a family that is configured statically
  # (a DHCP or RA-configured family learns its routes from the network).
  staticRoutes = facts:
    filter
      (r: (orNull r "gateway") != null
        && ((r.family == 4 && facts.static4 != [ ] && !facts.dhcp4)
          || (r.family == 6 && facts.static6 != [ ])))
      facts.myRoutes;

  networkUnit = info: iface:
    let
      facts = ifaceFacts info iface;
      mac = orNull iface "mac";
      dhcp = if facts.dhcp4 then "ipv4" else "no";
    in
    {
      name = "10-${stableName iface}";
      value = {
        matchConfig =
          if mac != null then { MACAddress = lower mac; }
          else { Name = stableName iface; };
        address =
          map (a: "${a.address}/${toString a.prefixLength}") (facts.static4 ++ facts.static6);
        routes = map (networkdRoute facts) (staticRoutes facts);
        networkConfig = {
          DHCP = dhcp;
          IPv6AcceptRA = facts.acceptRA;
        };
        linkConfig.RequiredForOnline = if facts.isPrimary then "routable" else "no";
      };
    };

  configuredInterfaces = info:
    filter (iface: (ifaceFacts info iface).configured) info.interfaces;

  # --- the same addresses in the initrd (busybox ip; for the SSH unlock on port 2222) ----------
  # Interfaces are found by MAC, because the initrd's names may differ from both systems'.
  initrdCommands = info:
    let
      findByMac = ''
        nixremote_ifname() {
          for d in /sys/class/net/*; do
            if [ "$(cat "$d/address" 2>/dev/null)" = "$1" ]; then basename "$d"; fi
          done
        }
      '';
      one = iface:
        let
          facts = ifaceFacts info iface;
          mac = orNull iface "mac";
          find = if mac != null then "i=$(nixremote_ifname ${escapeShellArg (lower mac)})"
            else "i=${escapeShellArg (stableName iface)}";
          routes = staticRoutes facts;
          routeCmds = concatLists (map
            (r:
              let
                fam = if r.family == 6 then "-6 " else "";
                dest = if isDefault r.destination then "default" else r.destination;
                gw = escapeShellArg r.gateway;
                host = if gatewayOnLink facts r then [ "ip ${fam}route add ${gw} dev \"$i\"" ] else [ ];
              in
              host ++ [ "ip ${fam}route add ${escapeShellArg dest} via ${gw} dev \"$i\"" ])
            routes);
          cidr = a: escapeShellArg "${a.address}/${toString a.prefixLength}";
          addrCmds =
            map (a: "ip addr add ${cidr a} dev \"$i\"") facts.static4
            ++ map (a: "ip -6 addr add ${cidr a} dev \"$i\"") facts.static6;
        in
        if addrCmds == [ ] then ""
        else concatStringsSep "\n" ([
          find
          "if [ -n \"$i\" ]; then"
          "  ip link set \"$i\" up"
        ] ++ map (c: "  " + c) (addrCmds ++ routeCmds) ++ [ "fi" ]) + "\n";
      body = concatStringsSep "" (map one (configuredInterfaces info));
    in
    if body == "" then "" else findByMac + body;

  splitHostName = name:
    let m = match "([^.]+)\\.(.+)" name;
    in if m == null then { hostName = name; domain = null; }
    else { hostName = elemAt m 0; domain = elemAt m 1; };

  toNixos = info0:
    let
      info = validate (normalize info0);
      ifaces = configuredInterfaces info;
      names = splitHostName info.hostName;
      drivers = unique (filter (d: d != null) (map (i: orNull i "driver") info.interfaces));
    in
    {
      networking = {
        inherit (names) hostName;
        hostId = info.hostId;
        useDHCP = false;
        useNetworkd = true;
        inherit (names) domain; # null when the host name has no dot
        nameservers = orDefault info "nameservers" [ ];
      };
      systemd.network = {
        enable = true;
        networks = listToAttrs (map (networkUnit info) ifaces);
      };
      boot.initrd = {
        availableKernelModules = drivers;
        network = {
          udhcpc.enable = any (i: (ifaceFacts info i).dhcp4) ifaces;
          postCommands = initrdCommands info;
        };
      };
    };
in
{
  inherit normalize validate toNixos splitHostName escapeShellArg;
  initrdCommands = info: initrdCommands (validate (normalize info));
  # exposed for tests and for other pure helpers
  inherit ip4ToInt inPrefix4 isLinkLocal6;
}
