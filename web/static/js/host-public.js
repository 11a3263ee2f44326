// A host's public page: the follow button and the seller's counts.
import {readBoot} from "./dom.js";
import {mountSeller} from "./social.js";

mountSeller(readBoot().seller);
